/**
 * A callback-style plugin's synchronous throw fails its `register` instead of escaping as an uncaught exception
 * (gateway/http/plugin-guard.ts). The case that needed it: @fastify/swagger requires its OpenAPI modules as it
 * registers, and with no file descriptor left that require threw EMFILE out of Fastify's loader: the start died with
 * node's stack and no start code (seen about 1 start in 30 under prlimit with 14 descriptors free and 2 verify
 * workers). Here it happens every time: a child whose preload loads the app's modules, takes every descriptor, then
 * builds the HTTP API. Needs the built dist/ (npx tsc -b).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyPluginCallback } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { afterEach, describe, expect, test } from 'vitest';
import { throwsToDone } from '../../gateway/http/plugin-guard.js';

const dist = pathToFileURL(join(process.cwd(), 'dist')).href;

/**
 * Every descriptor taken once the app's modules are loaded, then the API built: how its build ended. The first
 * module its build loads is then @fastify/swagger's mode (lib/mode/dynamic.js), as it registers.
 */
const BUILD_WITHOUT_FDS = `const { buildHttpApp } = await import('${dist}/gateway/http/app.js');
const { createMetrics } = await import('${dist}/gateway/metrics.js');
const { closeSync, openSync } = await import('node:fs');
const metrics = createMetrics();
// Fastify's own lazy requires (its logger's) made first: they come before any plugin's and would be refused first.
const { createRequire } = await import('node:module');
await createRequire(${JSON.stringify(join(process.cwd(), 'package.json'))})('fastify')({ logger: false }).close();
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
let outcome;
try {
  await buildHttpApp({ logLevel: 'silent', writeRateLimit: 10, bodyLimit: 1024, metrics, notReady: () => null, routes: () => {}, version: '0', webRoot: null });
  outcome = 'built';
} catch (e) { outcome = 'refused ' + e.code; }
for (const fd of held) closeSync(fd);
console.log(outcome);
process.exit(0);`;

describe('a plugin that throws as it registers fails the build, never the process', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  test('the HTTP API built with no file descriptor left: its build is refused EMFILE (the start names it), the process lives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-plugin-guard-'));
    dirs.push(dir);
    const script = join(dir, 'build.mjs');
    await writeFile(script, BUILD_WITHOUT_FDS);
    const r = spawnSync('prlimit', ['--nofile=256', process.execPath, script], { encoding: 'utf8', timeout: 30_000 });
    // Unguarded: exit 1 and "Error: EMFILE: too many open files, open '.../@fastify/swagger/lib/...'" on stderr.
    expect({ status: r.status, stdout: r.stdout.trim() }, r.stderr).toEqual({ status: 0, stdout: 'refused EMFILE' });
  }, 60_000);

  test('a synchronous throw is the registration error; a plugin that throws after its done rethrows', async () => {
    const cause = new Error('cannot load');
    const throwing: FastifyPluginCallback = () => {
      throw cause;
    };
    const app = Fastify();
    app.register(throwsToDone(throwing));
    await expect(app.ready()).rejects.toBe(cause);
    await app.close().catch(() => undefined);

    const late: FastifyPluginCallback = (_i, _o, done) => {
      done();
      throw cause;
    };
    expect(() => throwsToDone(late)(Fastify(), {} as never, () => undefined)).toThrow(cause);
  });

  test('guarded, a plugin keeps its name and encapsulation: @fastify/swagger-ui, which depends on it by name, registers and serves', async () => {
    const app = Fastify();
    await app.register(throwsToDone(swagger), { openapi: { info: { title: 't', version: '0' } } });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/x', { schema: { response: { 200: { type: 'string' } } } }, () => 'x');
    await app.ready();
    expect(app.hasPlugin('@fastify/swagger')).toBe(true);
    expect(typeof (app as unknown as { swagger: unknown }).swagger).toBe('function'); // decorated on the root: skip-override kept
    const spec = (await app.inject('/docs/json')).json() as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toContain('/x');
    // fastify-plugin's metadata, copied: the guard of a plain function is a plain function.
    const plain: FastifyPluginCallback = (_i, _o, done) => done();
    expect(Object.getOwnPropertySymbols(throwsToDone(plain))).toEqual([]);
    const guarded = throwsToDone(swagger) as unknown as Record<symbol, unknown>;
    expect(Object.getOwnPropertySymbols(guarded).map((k) => [k, guarded[k]])).toEqual(Object.getOwnPropertySymbols(swagger).map((k) => [k, (swagger as unknown as Record<symbol, unknown>)[k]]));
    expect(Object.getOwnPropertySymbols(guarded)).toContain(Symbol.for('skip-override'));
    await app.close();
  });
});
