/**
 * Boundaries and equality checks of chain, revocation and reading verification that no test noticed breaking: each
 * case names the mutant (hand mutation testing) it kills.
 */
import { describe, expect, it } from 'vitest';
import {
  createSign1, CT_READING, deviceIdFromKey, encode, readingClaimsToMap, createRevocation, decodeCertificate, issueCertificate, openReading,
  signReading, validateChain, verifyReading, verifyRevocation,
} from '../../protocol/index.js';
import { ALG_EDDSA, codeOfSync, DAY, kidOf, makeChain, NOW, pubOf, sensorClaims, signerFor } from './fixtures.js';

describe('chain validation boundaries', async () => {
  const c = await makeChain();

  // CH1 (chain.ts checkWindow `t < nbf` -> `t <= nbf`): a certificate is valid from its nbf on (RFC 8392 §3.1.5).
  it('a chain is valid at exactly its certificates\' nbf', () => {
    expect(c.deviceCert.claims.nbf).toBe(NOW - DAY);
    expect(validateChain([c.deviceCert, c.agencyCert], c.anchors, NOW - DAY).leaf.claims.sub).toBe(c.deviceIdHex);
    expect(codeOfSync(() => validateChain([c.deviceCert, c.agencyCert], c.anchors, NOW - DAY - 1))).toBe('CERT_NOT_YET_VALID');
  });

  // CH8 (chain.ts `chain.length > 3` -> `> 4`): four certificates are no chain, whatever the fourth.
  it('refuses a chain of four certificates with CHAIN_INVALID', () => {
    expect(codeOfSync(() => validateChain([c.deviceCert, c.agencyCert, c.rootCert, c.rootCert], c.anchors, NOW))).toBe('CHAIN_INVALID');
  });
});

describe('revocation names its certificate', async () => {
  const c = await makeChain();

  // R5 (revocation.ts verifyRevocation: the certRef check removed): a revocation of a device's earlier certificate,
  // same subject and issuer, is not one of its renewed certificate.
  it('a revocation of another certificate of the same device is CLAIM_INVALID for the renewed one', async () => {
    const renewed = decodeCertificate(await issueCertificate(c.agency, kidOf(c.agency), { ...c.deviceCert.claims, cti: new Uint8Array(16).fill(9), iat: NOW }));
    const rev = await createRevocation(c.agency, c.deviceCert, { reason: 'decommissioned', revokedFrom: NOW, iat: NOW });
    expect(verifyRevocation(rev, c.deviceCert, pubOf(c.agency)).claims.reason).toBe('decommissioned');
    expect(codeOfSync(() => verifyRevocation(rev, renewed, pubOf(c.agency)))).toBe('CLAIM_INVALID');
  });
});

describe('reading dated at its certificate\'s edges', async () => {
  const c = await makeChain();

  // RD1 (reading.ts checkReading `iat < nbf` -> `iat <= nbf`): a reading signed at the certificate's nbf is in it.
  it('a reading dated exactly at the device certificate\'s nbf verifies; a second earlier is CERT_NOT_YET_VALID', async () => {
    const at = c.deviceCert.claims.nbf;
    expect(verifyReading(openReading(await signReading(c.device, sensorClaims(c, 1, { iat: at }))), c.deviceCert).iat).toBe(at);
    const early = openReading(await signReading(c.device, sensorClaims(c, 2, { iat: at - 1 })));
    expect(codeOfSync(() => verifyReading(early, c.deviceCert))).toBe('CERT_NOT_YET_VALID');
  });

  // RD6 (reading.ts checkReading: the ueid check removed): a device signing, with its own key and kid, a reading
  // that names another device must not pass for that device's reading.
  it('a reading naming another device id (ueid) is CLAIM_INVALID though kid and signature are the signer\'s', async () => {
    const other = deviceIdFromKey(pubOf(signerFor(ALG_EDDSA, 'someone-else')));
    const payload = encode(readingClaimsToMap(sensorClaims(c, 3, { deviceId: other })));
    const bytes = await createSign1({ signer: c.device, payload, kid: kidOf(c.device), contentType: CT_READING });
    expect(codeOfSync(() => verifyReading(openReading(bytes), c.deviceCert))).toBe('CLAIM_INVALID');
  });

  // E1 (envelope.ts `bytes.length > maxBytes` -> `> maxBytes + 1`): one byte over the limit is TOO_LARGE.
  it('a reading of exactly maxBytes opens; one byte over is TOO_LARGE', async () => {
    const bytes = await signReading(c.device, sensorClaims(c, 4));
    expect(openReading(bytes, { maxBytes: bytes.length }).claims.seq).toBe(4);
    expect(codeOfSync(() => openReading(bytes, { maxBytes: bytes.length - 1 }))).toBe('TOO_LARGE');
  });
});
