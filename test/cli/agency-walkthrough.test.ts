/**
 * README's agency walkthrough (its Agencies section's sh block), run with the built CLI as written: the block is
 * read from README.md, so the two cannot drift apart (they had: README's block failed at `keys prove` for a key no step
 * made, found by the README walk). Placeholders get values (the agency's challenge, the firmware hash), the gateway
 * line gets a temp data dir and port 0 and runs in the background, and its URL replaces http://127.0.0.1:8080. Then
 * what the block leaves is checked: registrations, the device revoked, refusals' exit codes, a verifier trust file.
 * Then the Verifier web page section's block runs on that log: its entry 8 must be the first reading (README says so
 * beside it; in README's order, after the Devices section's fleet, 8 was a device registration: found by the walk).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { highSTwin } from '../protocol/high-s-twin.js';

const main = join(process.cwd(), 'dist/cli/main.js');

function run(cwd: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { cwd, timeout: 30_000 }, (err, out, errOut) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut });
    });
  });
}

/** The commands of README's first sh block under a heading: continuation lines joined, comments dropped, placeholders filled in. */
function readmeCommands(heading: string, fill: (placeholder: string) => string): string[][] {
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  const section = readme.indexOf(`\n${heading}\n`);
  expect(section, heading).toBeGreaterThan(0);
  const open = readme.indexOf('```sh\n', section) + '```sh\n'.length;
  const block = readme.slice(open, readme.indexOf('\n```', open));
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/<[^>]+>/g, fill).split(/\s+/));
}

describe('agency walkthrough with the built CLI', () => {
  let dir: string;
  let gateway: ChildProcess | undefined;
  let url = '';
  const ran: { args: string[]; code: number; out: string; err: string }[] = [];
  const nonce = '5a'.repeat(16); // the agency's challenge (SPEC §2)
  const firmware = 'ab'.repeat(32);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-walk-'));
    const commands = readmeCommands('## Agencies', (p) => (/challenge/.test(p) ? nonce : /sha-256/.test(p) ? firmware : `UNFILLED ${p}`));
    expect(commands.length).toBeGreaterThan(8);
    for (const [npx, cli, ...args] of commands) {
      expect([npx, cli]).toEqual(['npx', 'originproof']);
      if (args[0] === 'gateway') {
        gateway = spawn(process.execPath, [main, ...args, '--data-dir', 'data', '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0', '--log-level', 'warn'], { cwd: dir });
        url = await new Promise<string>((resolve, reject) => {
          let text = '';
          gateway!.stdout!.on('data', (d: Buffer) => {
            text += d.toString();
            const m = /HTTP API\s+(http:\/\/\S+)/.exec(text);
            if (m) resolve(m[1]!);
          });
          gateway!.on('exit', (c) => reject(new Error(`gateway exited ${c}: ${text}`)));
        });
        continue;
      }
      const withUrl = args.map((a) => a.replace('http://127.0.0.1:8080', url));
      const r = await run(dir, ...withUrl);
      ran.push({ args: withUrl, ...r });
      expect(r.code, `${withUrl.join(' ')}: ${r.err}`).toBe(0);
    }
  }, 90_000); // a dozen CLI processes one after another: ~20 s on this machine with the whole suite running
  afterAll(async () => {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((r) => gateway!.once('exit', r));
      gateway.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  test("README's block registered an agency and a device, then revoked the device", async () => {
    const output = (first: string, ...files: string[]) => ran.find((r) => r.args[0] === first && files.every((f) => r.args.includes(f)))!.out;
    expect(output('register', 'psb.cert', 'reader1.cert')).toMatch(/registered: agency psb.example[^]*registered: device [0-9a-f]{34}/);
    expect(output('register', 'reader1.rev')).toMatch(/registered: revocation of/);
    expect((await run(dir, 'register', '--gateway', url, 'psb.cert')).out).toMatch(/already registered/);
    const id = (JSON.parse(await readFile(join(dir, 'keys/reader1.pub.json'), 'utf8')) as { deviceId?: string }).deviceId;
    const list = (await (await fetch(`${url}/v1/agencies/psb.example/devices`)).json()) as { deviceId: string; status: string }[];
    expect(list).toHaveLength(1);
    expect(id, 'keys generate writes the device id beside the public key').toMatch(/^[0-9a-f]{34}$/);
    expect(list[0]!.deviceId).toBe(id);
    expect(list[0]!.status).toBe('revoked');
  });

  test("a refused registration exits 1 with the gateway's error code; no verdict (not registrable, gateway unreachable) exits 2", async () => {
    // a later, less strict revocation of the revoked device: the gateway checks it and says no
    const later = await run(dir, 'cert', 'revoke', '--issuer-key', 'keys/psb.key', '--cert', 'reader1.cert', '--reason', 'decommissioned', '--from', String(Math.floor(Date.now() / 1000) + 86_400), '--out', 'later.rev');
    expect(later.code).toBe(0);
    const refused = await run(dir, 'register', '--gateway', url, 'later.rev');
    expect([refused.code, /\[CONFLICT\]/.test(refused.err)]).toEqual([1, true]);
    // the root certificate is not something the registry takes: refused before any request
    const root = await run(dir, 'register', '--gateway', url, 'root.cert');
    expect([root.code, /\[ROLE_VIOLATION\]/.test(root.err)]).toEqual([2, true]);
    const unreachable = await run(dir, 'register', '--gateway', 'http://127.0.0.1:1', 'psb.cert');
    expect(unreachable.code).toBe(2);
  });

  test('a revocation posted again after a lost answer exits 0, already registered: the same file, made again the same, or signed again', async () => {
    const shown = JSON.parse((await run(dir, 'cert', 'show', 'reader1.rev')).out) as { reason: string; revokedFrom: number; iat: number };
    // made again with the same --reason, --from and --now: the same statement, and (RFC 6979 signatures) the same bytes
    const again = await run(dir, 'cert', 'revoke', '--issuer-key', 'keys/psb.key', '--cert', 'reader1.cert', '--reason', shown.reason, '--from', String(shown.revokedFrom), '--now', String(shown.iat), '--out', 'again.rev');
    expect(again.code).toBe(0);
    expect(await readFile(join(dir, 'again.rev'))).toEqual(await readFile(join(dir, 'reader1.rev')));
    // signed again by a signer whose signatures differ each time: here the signature's twin (r, n - s), other bytes
    await writeFile(join(dir, 'twin.rev'), highSTwin(new Uint8Array(await readFile(join(dir, 'reader1.rev')))));
    for (const file of ['reader1.rev', 'again.rev', 'twin.rev']) {
      const r = await run(dir, 'register', '--gateway', url, file);
      expect([r.code, r.out.trim()], `${file}: ${r.err}`).toEqual([0, expect.stringMatching(/^already registered: revocation of [0-9a-f]{34} \(log index 2\)$/)]);
    }
  });

  test('a verifier trust file gets the checkpoint key and origin from the gateway', async () => {
    const r = await run(dir, 'trust', '--root', 'root.cert', '--gateway', url);
    const trust = JSON.parse(r.out) as { checkpointKeys: { key: string }[]; origin: string };
    expect(trust.origin).toBe('originproof.local/log');
    expect(trust.checkpointKeys[0]!.key).toMatch(/^originproof\.local\/log\+[0-9a-f]{8}\+/);
  });

  // Last: it relies on the log holding the Agencies block's three entries only (the refusals above log nothing).
  test("then README's verifier page block: its entry 8 is the first reading, and verifies", async () => {
    // keys/env.key and env.cert, "an agency made as psb's is in Agencies" (README's Devices block)
    expect((await run(dir, 'keys', 'generate', '--alg', 'es256', '--out', 'keys/env')).code).toBe(0);
    expect((await run(dir, 'cert', 'agency', '--issuer-key', 'keys/root.key', '--issuer-cert', 'root.cert', '--subject-key', 'keys/env.pub.json', '--id', 'env.example', '--days', '365', '--out', 'env.cert')).code).toBe(0);
    const [start, ...commands] = readmeCommands('## Verifier web page', (p) => `UNFILLED ${p}`);
    // `npm start -- --trust trust.json` in the project: the running gateway stands in (same trust file, same log)
    expect(start!.join(' ')).toBe('npm install && npm start -- --trust trust.json');
    expect(commands.map((c) => c[2])).toEqual(['sim', 'sim', 'fetch-bundle']);
    for (const [, , ...args] of commands) {
      const withUrl = args.map((a) => a.replace('http://127.0.0.1:8080', url));
      const r = await run(dir, ...withUrl);
      expect(r.code, `${withUrl.join(' ')}: ${r.err}`).toBe(0);
    }
    expect(commands[2]).toContain('reading-8.cbor');
    expect((await run(dir, 'trust', '--root', 'root.cert', '--gateway', url, '--out', 'verifier-trust.json')).code).toBe(0);
    const r = await run(dir, 'verify', 'reading-8.cbor', '--trust', 'verifier-trust.json', '--json');
    const verdict = JSON.parse(r.out) as { valid: boolean; record: { index: number; entryType: number } };
    expect([r.code, verdict.valid, verdict.record.index, verdict.record.entryType]).toEqual([0, true, 8, 1]); // 1: a reading
  }, 60_000);
});
