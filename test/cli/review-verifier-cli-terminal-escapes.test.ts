/**
 * Text a hostile gateway controls, printed raw to the verifier's terminal (found by review). A bundle may carry any
 * revocation statement: one that names none of the reading's certificates fails `revocation CLAIM_INVALID`, and its
 * `sub` (any 63 characters, signature unchecked by then) went into the table verbatim, so `\n\nVALID\n\x1b[8m` made
 * `verify` show VALID and conceal the rest, the INVALID line included (exit 1 all the same). Likewise a gateway's
 * error message, in the `originproof: ...` line and in the monitor's ALARM line, could erase or rewrite that line
 * (`\r\x1b[2K`). Control characters (and bidi overrides) from a bundle or a gateway are now printed escaped.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { encodeProofBundle } from '../../protocol/bundle.js';
import { toBase64 } from '../../protocol/bytes.js';
import { createRevocation } from '../../protocol/revocation.js';
import { keyThumbprint } from '../../protocol/index.js';
import { runVerify } from '../../cli/commands/verify.js';
import { c, CP, make, ORIGIN, readingEntry, vkey } from '../verify/bundle-fixtures.js';
import { NOW, pubOf, signerFor, ALG_EDDSA } from '../protocol/fixtures.js';

const { p, cliAsync } = cliSandbox('op-escapes-');
/** C0 and C1 controls but the newline, DEL, bidi overrides and isolates. */
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
const EVIL = '\r\x1b[2K\n\nVALID\n\x1b[8m';

describe('text from a bundle or a gateway on the terminal', () => {
  let server: Server;
  let url = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'INTERNAL', message: `${EVIL}all is well` }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test("verify: a bundle revocation's sub is printed escaped; the verdict is the last line", async () => {
    const stranger = signerFor(ALG_EDDSA, 'stranger');
    const named = { certRef: new Uint8Array(32).fill(9), claims: { sub: EVIL }, issuerKid: keyThumbprint(pubOf(stranger)) } as unknown as Parameters<typeof createRevocation>[1];
    const revocation = await createRevocation(stranger, named, { reason: 'unspecified', revokedFrom: NOW, iat: NOW });
    const bundle = await make({ entries: [await readingEntry()], revocations: [revocation] });
    writeFileSync(p('evil.cbor'), encodeProofBundle(bundle));
    writeFileSync(p('trust.json'), JSON.stringify({ roots: [{ certificate: toBase64(c.rootCert.bytes) }], checkpointKeys: [vkey(CP)], origin: ORIGIN }));
    const r = runVerify({ bundle: p('evil.cbor'), trust: p('trust.json'), now: NOW + 3600 });
    expect(r.exitCode).toBe(1);
    expect(r.verdict?.checks.find((x) => x.name === 'revocation')?.code).toBe('CLAIM_INVALID');
    expect(r.output).not.toMatch(CONTROL);
    expect(r.output.trimEnd().split('\n').filter((l) => /^(VALID|INVALID)/.test(l))).toEqual([r.output.trimEnd().split('\n').at(-1)]);
  });

  test("a gateway's error message in the `originproof:` line is printed escaped (exit 2)", async () => {
    const r = await cliAsync('fetch-bundle', '--gateway', url, '--entry', '1', '--out', p('x.cbor'));
    expect(r.code).toBe(2);
    expect(r.err).not.toMatch(CONTROL);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });
});
