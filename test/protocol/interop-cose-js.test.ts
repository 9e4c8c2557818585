/**
 * Interop with an independent COSE implementation: cose-js 0.9.0 (dev dependency). cose-js 0.9.0 supports
 * ES256/384/512, PS* and RS* for Sign1 but not EdDSA (its AlgFromTags has no -8), so interop is covered with ES256;
 * Ed25519 is covered by RFC 8032 §7.1 and the COSE WG EdDSA example.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error cose-js ships no types
import * as cose from 'cose-js';
import {
  openReading, verifyReading, decodeCertificate, validateChain, signReading, encode, readingClaimsToMap, CT_READING,
  nobleVerify, toHex,
} from '../../protocol/index.js';
import { nodeVerify } from '../../gateway/crypto/node-verifier.js';
import { makeChain, sensorClaims, seedKey, kidOf, NOW, ALG_ES256 } from './fixtures.js';

const coseSign = cose.sign as {
  verify(bytes: Buffer, verifier: { key: { x: Buffer; y: Buffer } }): Promise<Buffer>;
  create(headers: { p: Record<string, unknown>; u: Record<string, unknown> }, payload: Buffer, signer: { key: { d: Buffer } }): Promise<Buffer>;
};

describe('cose-js interop (ES256)', async () => {
  const c = await makeChain(ALG_ES256);
  const xy = (raw: Uint8Array) => ({ x: Buffer.from(raw.subarray(1, 33)), y: Buffer.from(raw.subarray(33, 65)) });

  it('cose-js verifies our signed reading', async () => {
    const bytes = await signReading(c.device, sensorClaims(c, 42));
    const payload = await coseSign.verify(Buffer.from(bytes), { key: xy(c.device.publicKey) });
    expect(toHex(new Uint8Array(payload))).toBe(toHex(openReading(bytes).sign1.payload));
  });

  it('cose-js verifies our device certificate (signed by the ES256 agency)', async () => {
    const payload = await coseSign.verify(Buffer.from(c.deviceCert.bytes), { key: xy(c.agency.publicKey) });
    expect(payload.length).toBeGreaterThan(100);
    const tampered = Buffer.from(c.deviceCert.bytes);
    tampered[tampered.length - 1]! ^= 1;
    await expect(coseSign.verify(tampered, { key: xy(c.agency.publicKey) })).rejects.toThrow('Signature missmatch'); // cose-js's error (sic), which has no code
  });

  it('we verify a reading that cose-js signed (both verifiers)', async () => {
    const payload = Buffer.from(encode(readingClaimsToMap(sensorClaims(c, 7))));
    const signed = await coseSign.create(
      { p: { alg: 'ES256', content_type: CT_READING, kid: Buffer.from(kidOf(c.device)) }, u: {} },
      payload,
      { key: { d: Buffer.from(seedKey(`device-${ALG_ES256}`)) } },
    );
    const opened = openReading(new Uint8Array(signed));
    for (const verifier of [nobleVerify, nodeVerify]) expect(verifyReading(opened, c.deviceCert, { verifier }).seq).toBe(7);
    expect(validateChain([decodeCertificate(c.deviceCert.bytes), c.agencyCert], c.anchors, NOW).leaf.claims.sub).toBe(c.deviceIdHex);
  });
});
