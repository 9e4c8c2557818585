/**
 * Trust material: checkpoint key windows (notBefore <= t < notAfter), root anchors' windows from the trust file,
 * unusable Ed25519 checkpoint keys, and root certificates given as anchors (role root, valid self-signature).
 */
import { describe, expect, test } from 'vitest';
import { checkpointKeysAt, checkpointKeysForBlock, issueCertificate, parseTrust, toBase64, toHex, validateChain } from '../../protocol/index.js';
import { ed25519NoteSigner, formatVerifierKey } from '../../protocol/checkpoint.js';
import { DAY, NOW, codeOfSync, kidOf, makeChain, pubOf, seedKey } from './fixtures.js';

const c = await makeChain();
const cp = ed25519NoteSigner('trust.example/log', seedKey('trust windows checkpoint'));
const VKEY = formatVerifierKey(cp.name, cp.publicKey);

describe('trust windows', () => {
  // trust.ts checkpointKeysAt: a key is usable from notBefore (inclusive) to notAfter (exclusive).
  test('checkpoint keys are chosen by notBefore <= t < notAfter', () => {
    const trust = parseTrust({ checkpointKeys: [{ key: VKEY, notBefore: NOW, notAfter: NOW + 10 }] });
    expect([NOW - 1, NOW, NOW + 9, NOW + 10].map((t) => checkpointKeysAt(trust, t).length)).toEqual([0, 1, 1, 0]);
  });

  // trust.ts checkpointKeysForBlock: valid at the block's time, and begun by the verifier's clock (a next key
  // published ahead of its notBefore vouches for nothing before then, however the block is dated).
  test('checkpoint keys for a block: notBefore <= block time and <= now, block time < notAfter', () => {
    const trust = parseTrust({ checkpointKeys: [{ key: VKEY, notBefore: NOW, notAfter: NOW + 10 }] });
    const n = (at: number, now: number) => checkpointKeysForBlock(trust, at, now).length;
    expect([n(NOW, NOW), n(NOW, NOW - 1), n(NOW - 1, NOW), n(NOW + 9, NOW + 100), n(NOW + 10, NOW + 100)]).toEqual([1, 0, 0, 1, 0]);
  });

  // trust.ts optTime: a window time is seconds since the epoch, never negative.
  test('a negative notBefore or notAfter is MALFORMED', () => {
    expect(codeOfSync(() => parseTrust({ checkpointKeys: [{ key: VKEY, notBefore: 0 }] }))).toBe('NO_ERROR');
    expect(codeOfSync(() => parseTrust({ checkpointKeys: [{ key: VKEY, notBefore: -1 }] }))).toBe('MALFORMED');
    expect(codeOfSync(() => parseTrust({ roots: [{ name: 'root.example', alg: 'EdDSA', publicKey: toHex(c.root.publicKey), notAfter: -1 }] }))).toBe('MALFORMED');
  });

  // trust.ts rootFrom: a trust file root's notAfter bounds the chain (CERT_EXPIRED at or after it).
  test("a root anchor whose trust-file notAfter is not after the reading's time fails the chain", () => {
    const root = (notAfter: number) => parseTrust({ roots: [{ name: 'root.example', alg: 'EdDSA', publicKey: toHex(c.root.publicKey), notAfter }] });
    expect(validateChain([c.deviceCert, c.agencyCert], root(NOW + 1).anchors, NOW).anchor.name).toBe('root.example');
    expect(codeOfSync(() => validateChain([c.deviceCert, c.agencyCert], root(NOW - 10).anchors, NOW))).toBe('CERT_EXPIRED');
    expect(codeOfSync(() => validateChain([c.deviceCert, c.agencyCert], root(NOW).anchors, NOW))).toBe('CERT_EXPIRED');
  });

  // chain.ts trustAnchors: one root key listed twice (a root certificate re-issued with a new window, same key) is
  // trusted over both windows, not only the last listed (which failed genuine chains of the earlier window).
  test('a root key listed twice with windows that meet or overlap: trusted over both; disjoint, or two names: MALFORMED', () => {
    const entry = (notBefore: number, notAfter: number, name = 'root.example') => ({ name, alg: 'EdDSA', publicKey: toHex(c.root.publicKey), notBefore, notAfter });
    const twice = parseTrust({ roots: [entry(NOW - 10 * DAY, NOW + 1), entry(NOW + 1, NOW + 10 * DAY)] });
    expect(twice.anchors.byKid.size).toBe(1);
    expect(validateChain([c.deviceCert, c.agencyCert], twice.anchors, NOW).anchor).toMatchObject({ notBefore: NOW - 10 * DAY, notAfter: NOW + 10 * DAY });
    const reversed = parseTrust({ roots: [entry(NOW + 1, NOW + 10 * DAY), entry(NOW - 10 * DAY, NOW + 2)] });
    expect(validateChain([c.deviceCert, c.agencyCert], reversed.anchors, NOW).anchor.name).toBe('root.example');
    expect(codeOfSync(() => parseTrust({ roots: [entry(NOW - 10 * DAY, NOW - DAY), entry(NOW + DAY, NOW + 10 * DAY)] }))).toBe('MALFORMED');
    expect(codeOfSync(() => parseTrust({ roots: [entry(NOW - 10 * DAY, NOW + 1), entry(NOW, NOW + 10 * DAY, 'other.example')] }))).toBe('MALFORMED');
  });

  // checkpoint.ts parseVerifierKey: small-order and non-canonical Ed25519 keys are refused (anyone could sign).
  test('a small-order or non-canonical Ed25519 checkpoint key is refused: CHECKPOINT_INVALID', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1; // y = 1: the identity point
    const nonCanonical = new Uint8Array(32).fill(0xff);
    nonCanonical[0] = 0xee; // y = p + 1
    nonCanonical[31] = 0x7f;
    for (const raw of [identity, nonCanonical]) {
      expect(codeOfSync(() => parseTrust({ checkpointKeys: [formatVerifierKey('bad.example/log', raw)] })), toHex(raw)).toBe('CHECKPOINT_INVALID');
    }
  });
});

describe('root certificates as trust anchors', () => {
  const window = { iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + 365 * DAY };
  const anchorCode = (bytes: Uint8Array) => codeOfSync(() => parseTrust({ roots: [{ certificate: toBase64(bytes) }] }));

  // chain.ts anchorFromRootCertificate: only a root-role certificate is an anchor, even if self-signed.
  test('a self-signed agency certificate given as a root: ROLE_VIOLATION', async () => {
    const selfSigned = await issueCertificate(c.agency, kidOf(c.agency), { iss: 'psb.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(c.agency), ...window });
    expect(anchorCode(c.rootCert.bytes)).toBe('NO_ERROR');
    expect(anchorCode(selfSigned)).toBe('ROLE_VIOLATION');
  });

  // chain.ts anchorFromRootCertificate: the root certificate's self-signature must verify.
  test('a root certificate with a bad self-signature: BAD_SIGNATURE', () => {
    const bad = c.rootCert.bytes.slice();
    bad[bad.length - 64]! ^= 1; // first byte of the signature (the last 64 bytes)
    expect(anchorCode(bad)).toBe('BAD_SIGNATURE');
  });
});
