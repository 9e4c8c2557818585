/**
 * Review (offline verification, the court's view): a trust file's windows must bound what it trusts. A root given by
 * its certificate takes its window from the certificate (nbf/exp); a `notBefore`/`notAfter` written beside it was
 * ignored without a word, so a verifier who ended its trust in a root (a root key compromised, a rotation) still
 * verified readings signed under it after that end. A window field misspelt (`notafter`, `not_after`) on a checkpoint
 * key or a root key was ignored the same way: the key was trusted for ever. Every field of a root or checkpoint key
 * entry is now one the verifier reads, or the file is refused (MALFORMED: `verify` exits 2).
 */
import { describe, expect, test } from 'vitest';
import { parseTrust, toBase64, toHex } from '../../protocol/index.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { NOW, codeOfSync } from '../protocol/fixtures.js';
import { BLOCK_MS, CP, ORIGIN, c, fails, make, readingEntry, vkey } from './bundle-fixtures.js';

const rootCert = { certificate: toBase64(c.rootCert.bytes) };
const rootKey = { name: 'root.example', alg: 'EdDSA', publicKey: toHex(c.root.publicKey) };
const cpKey = { key: vkey(CP) };
const blockS = Math.floor(BLOCK_MS / 1000);

describe('trust file entries: a window is honoured or the file is refused', () => {
  test('controls: the genuine bundle verifies; a key-form root or a checkpoint key whose window ended first fails', async () => {
    const b = await make({ entries: [await readingEntry()] });
    expect(fails(verifyBundle(b, parseTrust({ roots: [rootCert], checkpointKeys: [cpKey], origin: ORIGIN })))).toEqual([]);
    expect(fails(verifyBundle(b, parseTrust({ roots: [{ ...rootKey, notAfter: NOW - 1 }], checkpointKeys: [cpKey], origin: ORIGIN })))).toEqual([['chain', 'CERT_EXPIRED']]);
    expect(fails(verifyBundle(b, parseTrust({ roots: [rootCert], checkpointKeys: [{ ...cpKey, notAfter: blockS }], origin: ORIGIN })))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
  });

  // trust.ts rootFrom: the certificate form read `certificate` alone; the window beside it bounded nothing (the bundle
  // above verified, its reading signed after the root's trust had ended).
  test('a root certificate with a notBefore or notAfter beside it: MALFORMED, not a window silently ignored', () => {
    for (const w of [{ notAfter: NOW - 1 }, { notBefore: NOW + 1 }, { notBefore: NOW - 10, notAfter: NOW - 1 }]) {
      expect(codeOfSync(() => parseTrust({ roots: [{ ...rootCert, ...w }], checkpointKeys: [cpKey] })), JSON.stringify(w)).toBe('MALFORMED');
    }
    // nor the key form's fields, which would name a key the certificate may not hold
    expect(codeOfSync(() => parseTrust({ roots: [{ ...rootCert, ...rootKey }] }))).toBe('MALFORMED');
  });

  // trust.ts: a misspelt window field was no field at all, and the key trusted at any time.
  test('a misspelt or unknown field on a checkpoint key or a root key: MALFORMED', () => {
    for (const k of [{ ...cpKey, notafter: blockS }, { ...cpKey, not_after: blockS }, { ...cpKey, expires: blockS }]) {
      expect(codeOfSync(() => parseTrust({ roots: [rootCert], checkpointKeys: [k] })), JSON.stringify(Object.keys(k))).toBe('MALFORMED');
    }
    for (const r of [{ ...rootKey, notafter: NOW - 1 }, { ...rootKey, validUntil: NOW - 1 }]) {
      expect(codeOfSync(() => parseTrust({ roots: [r], checkpointKeys: [cpKey] })), JSON.stringify(Object.keys(r))).toBe('MALFORMED');
    }
    // nor at the top: a misspelt origin turned the origin check off, a misspelt clockSkewSeconds left the default
    for (const extra of [{ orgin: ORIGIN }, { clockSkew: 30 }, { checkpointkeys: [cpKey] }]) {
      expect(codeOfSync(() => parseTrust({ roots: [rootCert], checkpointKeys: [cpKey], ...extra })), JSON.stringify(extra)).toBe('MALFORMED');
    }
    expect(codeOfSync(() => parseTrust({ roots: [rootCert], checkpointKeys: [cpKey], origin: ORIGIN, clockSkewSeconds: 30 }))).toBe('NO_ERROR');
    // the fields the verifier reads are still taken, each entry as before
    expect(codeOfSync(() => parseTrust({ roots: [rootCert, { ...rootKey, name: 'root.example', notBefore: 0, notAfter: NOW * 2 }], checkpointKeys: [vkey(CP), { ...cpKey, notBefore: 0, notAfter: null }] }))).toBe('NO_ERROR');
  });
});
