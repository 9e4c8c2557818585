/**
 * `originproof gateway --trust-proxy` / ORIGINPROOF_TRUST_PROXY: the reverse proxies whose X-Forwarded-For is believed
 * (test/gateway/http-trust-proxy.test.ts has what they change). The built CLI is started as npm start does; the banner
 * shows the proxies in use, and a setting that would trust whoever connects stops the start.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { npmStartArgs } from '../../scripts/npm-start.js';
import { readyBanner } from './gateway-process.js';

const main = join(process.cwd(), 'dist/cli/main.js');

describe('trusted proxies on the command line and in the environment', () => {
  test('--trust-proxy is used (the banner shows it), over ORIGINPROOF_TRUST_PROXY; none shown without either', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-proxy-'));
    const base = [...npmStartArgs(process.cwd()), '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0', '--verify-workers', '0', '--log-level', 'warn'];
    try {
      for (const [flags, env, shown] of [
        [['--trust-proxy', '10.9.0.5,loopback'], { ORIGINPROOF_TRUST_PROXY: '192.168.0.0/16' }, /^ {2}proxies\s+10\.9\.0\.5, loopback /m],
        [[], { ORIGINPROOF_TRUST_PROXY: '' }, null],
      ] as const) {
        const child = spawn(process.execPath, [...base, ...flags], { cwd: dir, env: { ...process.env, ...env } });
        try {
          const banner = await readyBanner(child);
          if (shown) expect(banner).toMatch(shown);
          else expect(banner).not.toMatch(/proxies/);
          const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
          child.kill('SIGTERM');
          expect(await exit).toBe(0);
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test.each([
    ['--trust-proxy', ['--trust-proxy', '1'], {}],
    ['ORIGINPROOF_TRUST_PROXY', [], { ORIGINPROOF_TRUST_PROXY: '0.0.0.0/0' }],
  ])('a setting that trusts whoever connects (%s) stops the start: exit 2, names trustProxy', (_what, flags, env) => {
    const r = spawnSync(process.execPath, [main, 'gateway', ...flags], {
      env: { ...process.env, ...env, ORIGINPROOF_DATA_DIR: join(tmpdir(), 'op-never'), ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0' },
      encoding: 'utf8',
      timeout: 30_000, // a gateway that started anyway is killed, and the test fails
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^\[CONFIG_INVALID\] invalid gateway configuration/);
    expect(r.stderr).toMatch(/^ {2}trustProxy: /m);
  });
});
