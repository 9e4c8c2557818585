/**
 * Review (review-pop): `cert device --pop FILE [--nonce HEX]` exit codes (README: 1 a check ran and said no; 2 no
 * verdict: a bad option, a file that cannot be decoded). The proof was checked inside the "said no" wrapper as a
 * whole, so a --nonce that is not hex, or a --pop file that is no proof of possession at all (a certificate, random
 * bytes), exited 1 as if a proof had been checked and refused. They are exit 2 now; a proof for another agency, by
 * another key, with another nonce, stays exit 1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateKeys, proveKey } from '../../cli/commands/keys.js';
import { certAgency, certDevice, certRoot } from '../../cli/commands/cert.js';
import { exitCodeFor } from '../../cli/failure.js';

const NOW = 1_767_225_600;
const FW = 'ab'.repeat(32);
const dir = mkdtempSync(join(tmpdir(), 'op-review-pop-cli-'));
const p = (n: string) => join(dir, n);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The exit code the CLI gives what `fn` throws (0 when it does not), and the code of the error. */
async function exitOf(fn: () => Promise<unknown>): Promise<[number, unknown]> {
  try {
    await fn();
    return [0, undefined];
  } catch (err) {
    return [exitCodeFor(err), (err as { code?: unknown }).code];
  }
}

describe('cert device --pop / --nonce exit codes', () => {
  let keys: { agency: string; devPub: string; devKey: string; otherKey: string };
  beforeAll(async () => {
    const root = generateKeys({ alg: 'ed25519', out: p('k/root') });
    const agency = generateKeys({ alg: 'es256', out: p('k/agency') });
    const dev = generateKeys({ alg: 'ed25519', out: p('k/dev') });
    const other = generateKeys({ alg: 'ed25519', out: p('k/other') });
    await certRoot({ key: root.keyPath, id: 'root.example', days: 3650, out: p('root.cert'), now: NOW });
    await certAgency({ issuerKey: root.keyPath, issuerCert: p('root.cert'), subjectKey: agency.pubPath, id: 'psb.example', days: 365, out: p('agency.cert'), now: NOW });
    keys = { agency: agency.keyPath, devPub: dev.pubPath, devKey: dev.keyPath, otherKey: other.keyPath };
  });

  let n = 0;
  const device = (pop: string, nonce?: string) => () =>
    certDevice({
      issuerKey: keys.agency, issuerCert: p('agency.cert'), subjectKey: keys.devPub, pop, ...(nonce !== undefined ? { nonce } : {}), kind: 'temperature-sensor',
      types: 'temperature', firmware: FW, days: 365, out: p(`dev${++n}.cert`), now: NOW,
    });

  test('a genuine proof: done (0), with and without its nonce', async () => {
    await proveKey({ key: keys.devKey, agency: 'psb.example', nonce: '07'.repeat(16), out: p('good.pop'), now: NOW });
    expect(await exitOf(device(p('good.pop')))).toEqual([0, undefined]);
    expect(await exitOf(device(p('good.pop'), '07'.repeat(16)))).toEqual([0, undefined]);
  });

  test('a --nonce that is not hex is a bad option: exit 2', async () => {
    expect((await exitOf(device(p('good.pop'), 'not-hex')))[0]).toBe(2);
  });

  test('a --pop file that is no proof of possession cannot be decoded: exit 2 (MALFORMED)', async () => {
    writeFileSync(p('junk.pop'), 'this is not CBOR');
    expect(await exitOf(device(p('junk.pop')))).toEqual([2, 'MALFORMED']);
    expect(await exitOf(device(p('agency.cert')))).toEqual([2, 'MALFORMED']); // a certificate, content type 65001
  });

  test('a proof that decodes but does not hold is a verdict: exit 1 (aud, kid, nonce)', async () => {
    await proveKey({ key: keys.devKey, agency: 'other.example', out: p('other-agency.pop'), now: NOW });
    await proveKey({ key: keys.otherKey, agency: 'psb.example', out: p('other-key.pop'), now: NOW });
    expect(await exitOf(device(p('other-agency.pop')))).toEqual([1, 'CLAIM_INVALID']);
    expect(await exitOf(device(p('other-key.pop')))).toEqual([1, 'UNKNOWN_KEY']);
    expect(await exitOf(device(p('good.pop'), '08'.repeat(16)))).toEqual([1, 'CLAIM_INVALID']);
  });
});
