/**
 * Output files (`--out`) with the built CLI (cli/files.ts writeOutput): an existing file is replaced only with
 * --force (exit 2 otherwise, naming the file and --force), and never, even with --force, when it is one of the
 * command's inputs or holds a secret key (`keys generate`'s `.key`, the simulator's sealed `.se.json`, the gateway's
 * checkpoint key, a PEM private key). `keys generate` never replaces a file at all. A path found absent is created
 * exclusively, so nothing that appears between the check and the write is replaced unchecked; a symbolic link to
 * nothing (where a write would create its target unchecked) is the deterministic case of that.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { encodeProofBundle } from '../../protocol/index.js';
import { make, readingEntry } from '../verify/bundle-fixtures.js';

const { p, cli, cliAsync } = cliSandbox('op-out-');
const NOW = '1767225600';
const FW = 'ab'.repeat(32);
const read = (n: string) => readFileSync(p(n));
/** Each a secret key in the shape its writer gives it; none may be replaced by an output, --force or not. */
const SECRETS: Record<string, string> = {
  'k/other.key': '', // keys generate, below
  'dev.se.json': JSON.stringify({ backend: 'node', alg: -8, pkcs8: 'MC4CAQAwBQYDK2VwBCIEI' }) + '\n', // device-sim sealed key
  'gateway-checkpoint.key.json': JSON.stringify({ alg: 'ed25519', secretKey: '00'.repeat(32), publicKey: '11'.repeat(32), createdAt: 'x' }, null, 2),
  'tls.key': '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n',
};

/** Each command that writes --out, with what it needs; `inputs` are its own input files. */
const COMMANDS: { name: string; args: (out: string) => string[]; inputs: string[] }[] = [
  { name: 'cert root', args: (out) => ['cert', 'root', '--key', 'k/root.key', '--id', 'root.example', '--days', '10', '--now', NOW, '--out', out], inputs: ['k/root.key'] },
  {
    name: 'cert agency',
    args: (out) => ['cert', 'agency', '--issuer-key', 'k/root.key', '--issuer-cert', 'root.cert', '--subject-key', 'k/psb.pub.json', '--id', 'psb.example', '--days', '10', '--now', NOW, '--out', out],
    inputs: ['k/root.key', 'root.cert', 'k/psb.pub.json'],
  },
  {
    name: 'cert device',
    args: (out) => ['cert', 'device', '--issuer-key', 'k/psb.key', '--issuer-cert', 'psb.cert', '--subject-key', 'k/dev.pub.json', '--pop', 'dev.pop', '--kind', 'temperature-sensor', '--types', 'temperature', '--firmware', FW, '--days', '10', '--now', NOW, '--out', out],
    inputs: ['k/psb.key', 'psb.cert', 'k/dev.pub.json', 'dev.pop'],
  },
  {
    name: 'cert revoke',
    args: (out) => ['cert', 'revoke', '--issuer-key', 'k/psb.key', '--cert', 'dev.cert', '--reason', 'decommissioned', '--from', NOW, '--now', NOW, '--out', out],
    inputs: ['k/psb.key', 'dev.cert'],
  },
  { name: 'trust', args: (out) => ['trust', '--root', 'root.cert', '--out', out], inputs: ['root.cert'] },
  { name: 'keys prove', args: (out) => ['keys', 'prove', '--key', 'k/dev.key', '--agency', 'psb.example', '--now', NOW, '--out', out], inputs: ['k/dev.key'] },
];

// The four keys at once, then each certificate once what it is made from is there (independent processes run side by side).
beforeAll(async () => {
  const made = async (...args: string[]) => expect((await cliAsync(...args)).code).toBe(0);
  await Promise.all([['root', 'ed25519'], ['psb', 'es256'], ['dev', 'ed25519'], ['other', 'ed25519']].map(([name, alg]) => made('keys', 'generate', '--alg', alg!, '--out', `k/${name}`)));
  for (const [f, text] of Object.entries(SECRETS)) if (text) writeFileSync(p(f), text);
  await made(...COMMANDS[0]!.args('root.cert'));
  await Promise.all([made(...COMMANDS[1]!.args('psb.cert')), made(...COMMANDS.find((c) => c.name === 'keys prove')!.args('dev.pop'))]);
  await made(...COMMANDS[2]!.args('dev.cert'));
});

// Each command's test, and each refusal below, reads the shared inputs and writes only its own file: they run side by side.
describe.concurrent.each(COMMANDS)('$name --out', ({ name, args, inputs }) => {
  const out = `${name.replace(' ', '-')}.out`;

  test('creates the file; an existing one is replaced only with --force; never its own input or a secret key', async () => {
    expect((await cliAsync(...args(out))).code).toBe(0);
    const first = read(out);
    writeFileSync(p(out), 'mine\n');
    const again = await cliAsync(...args(out));
    expect(again.code).toBe(2);
    expect(again.err).toContain(out);
    expect(again.err).toMatch(/exists.*--force/);
    expect(read(out).toString()).toBe('mine\n');
    expect((await cliAsync(...args(out), '--force')).code).toBe(0);
    expect(read(out).length).toBe(first.length); // the command's output, not 'mine'
    // Its first input (for cert: the issuer's secret key), and a secret key it does not read: kept even with --force.
    const kept = [[inputs[0]!, /input/], ['k/other.key', /secret key/]] as const;
    const befores = kept.map(([file]) => read(file));
    const runs = await Promise.all(kept.map(([file]) => cliAsync(...args(file), '--force')));
    for (const [i, [file, why]] of kept.entries()) {
      const r = runs[i]!;
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(file);
      expect(r.err).toMatch(why);
      expect(read(file)).toEqual(befores[i]);
    }
  });
});

describe('cert root --out: no secret key is replaced, in any of the shapes one is kept', () => {
  test.concurrent.each(Object.keys(SECRETS))('%s, even with --force', async (secret) => {
    const before = read(secret);
    const r = await cliAsync(...COMMANDS[0]!.args(secret), '--force');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain(secret);
    expect(r.err).toMatch(/secret key/);
    expect(read(secret)).toEqual(before);
  });
});

describe('cert root --out: a symbolic link to nothing', () => {
  test('is not written through, even with --force', () => {
    symlinkSync(p('elsewhere/target.key'), p('dangling.out'));
    mkdirSync(p('elsewhere'));
    for (const force of [[], ['--force']]) {
      const r = cli(...COMMANDS[0]!.args('dangling.out'), ...force);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain('dangling.out');
      expect(existsSync(p('elsewhere/target.key'))).toBe(false);
    }
  });
});

describe('the other inputs of each command', () => {
  test.concurrent.each(COMMANDS.slice(1).flatMap((c) => c.inputs.slice(1).map((i) => [c.name, i] as const)))('%s never replaces its input %s, even with --force', async (name, input) => {
    const before = read(input);
    const r = await cliAsync(...COMMANDS.find((c) => c.name === name)!.args(input), '--force');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/input/);
    expect(read(input)).toEqual(before);
  });
});

describe('keys generate', () => {
  test('never replaces either file of a pair, not even a lone .pub.json', () => {
    mkdirSync(p('k2'));
    writeFileSync(p('k2/lone.pub.json'), '{"mine": true}\n');
    const r = cli('keys', 'generate', '--alg', 'ed25519', '--out', 'k2/lone');
    expect(r.code).toBe(2);
    expect(r.err).toContain('k2/lone.pub.json');
    expect(read('k2/lone.pub.json').toString()).toBe('{"mine": true}\n');
    const key = read('k/root.key');
    expect(cli('keys', 'generate', '--alg', 'ed25519', '--out', 'k/root').code).toBe(2);
    expect(read('k/root.key')).toEqual(key);
  });
});

describe('fetch-bundle --out', () => {
  let server: Server;
  let url = '';
  let bundle: Uint8Array;
  beforeAll(async () => {
    bundle = encodeProofBundle(await make({ entries: [await readingEntry()] }));
    server = createServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/v1/entries/0/bundle')) res.writeHead(200, { 'content-type': 'application/cbor' }).end(bundle);
      else res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'NOT_FOUND', message: 'no route' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('an existing file is replaced only with --force; a secret key never', async () => {
    const fetch = (out: string, ...extra: string[]) => cliAsync('fetch-bundle', '--gateway', url, '--entry', '0', '--out', out, ...extra);
    expect((await fetch('reading.cbor')).code).toBe(0);
    expect(new Uint8Array(read('reading.cbor'))).toEqual(bundle);
    writeFileSync(p('reading.cbor'), 'mine\n');
    const again = await fetch('reading.cbor');
    expect([again.code, again.err.includes('reading.cbor'), /--force/.test(again.err)]).toEqual([2, true, true]);
    expect(read('reading.cbor').toString()).toBe('mine\n');
    expect((await fetch('reading.cbor', '--force')).code).toBe(0);
    expect(new Uint8Array(read('reading.cbor'))).toEqual(bundle);
    const key = read('k/other.key');
    expect((await fetch('k/other.key', '--force')).code).toBe(2);
    expect(read('k/other.key')).toEqual(key);
  });
});
