/**
 * `originproof trust --gateway` writes the log's checkpoint keys over its life from GET /v1/log `checkpointKeys`
 * (after a key rotation: the retired key with its notAfter, the current one with its notBefore), and refuses an answer
 * whose list is not one (MALFORMED, exit 2, no file written): not a list, a non-key, a window that is not seconds, or
 * without the verifierKey it names. A gateway from before the field: its verifierKey alone. A stand-in HTTP server
 * plays the gateway; the real rotation is test/cli/checkpoint-key-rotate.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ed25519NoteSigner, formatVerifierKey } from '../../protocol/checkpoint.js';
import { generateKeys } from '../../cli/commands/keys.js';
import { certRoot } from '../../cli/commands/cert.js';
import { cliSandbox } from './cli-sandbox.js';

const { p, cliAsync } = cliSandbox('op-trust-keys-');
const ORIGIN = 'gw.example/log';
const [old, current] = [1, 2].map((i) => formatVerifierKey(ORIGIN, ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(i)).publicKey)) as [string, string];

describe('trust --gateway: the log checkpoint keys', () => {
  let server: Server;
  let url = '';
  /** What the stand-in answers as checkpointKeys, by the first path segment (absent: the field left out). */
  const answers: Record<string, unknown> = {
    rotated: [{ key: old, notAfter: 1_800_000_000 }, { key: current, notBefore: 1_800_000_000 }],
    notalist: { key: current },
    empty: [],
    nonkey: [{ key: 'not-a-key' }, { key: current }],
    badwindow: [{ key: current, notBefore: -5 }],
    withoutcurrent: [{ key: old }],
  };
  beforeAll(async () => {
    const root = generateKeys({ alg: 'ed25519', out: p('k/root') });
    await certRoot({ key: root.keyPath, id: 'root.example', days: 3650, out: p('root.cert') });
    server = createServer((req, res) => {
      req.resume();
      const [, kind, ...rest] = (req.url ?? '').split('/');
      const path = rest.join('/');
      const json = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (path === 'v1/log') return json({ origin: ORIGIN, verifierKey: current, ...(kind! in answers ? { checkpointKeys: answers[kind!] } : {}) });
      if (path === 'v1/trust') return json({ roots: [], checkpointKeys: [], clockSkewSeconds: 300 });
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const trust = async (kind: string) => {
    const out = p(`trust-${kind}.json`);
    const r = await cliAsync('trust', '--root', p('root.cert'), '--gateway', `${url}/${kind}`, '--out', out);
    return { ...r, file: existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as { checkpointKeys: unknown }) : null };
  };

  test("a rotated log's keys with their windows; a gateway without the field: its verifierKey alone", async () => {
    const rotated = await trust('rotated');
    expect(rotated.code, rotated.out).toBe(0);
    expect(rotated.file?.checkpointKeys).toEqual(answers.rotated);
    const before = await trust('older');
    expect(before.code, before.out).toBe(0);
    expect(before.file?.checkpointKeys).toEqual([{ key: current }]);
  });

  test.each(['notalist', 'empty', 'nonkey', 'badwindow', 'withoutcurrent'])('checkpointKeys %s: MALFORMED, exit 2, no trust file', async (kind) => {
    const r = await trust(kind);
    expect([r.code, r.err.split(' ')[1], r.file]).toEqual([2, '[MALFORMED]', null]);
  });
});
