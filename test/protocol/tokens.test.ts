import { describe, expect, it } from 'vitest';
import {
  createConnectToken, verifyConnectToken, decodeConnectToken, createProofOfPossession, verifyProofOfPossession,
  createSign1, encode, CT_CONNECT_TOKEN, CT_PROOF_OF_POSSESSION, signReading,
} from '../../protocol/index.js';
import { makeChain, sensorClaims, NOW, kidOf, pubOf, codeOf, ALG_ES256 } from './fixtures.js';

describe('connect token', async () => {
  const c = await makeChain(ALG_ES256);
  const token = await createConnectToken(c.device, { aud: 'gw.example', iat: NOW, exp: NOW + 600 });
  const raw = (m: Map<unknown, unknown>) => createSign1({ signer: c.device, payload: encode(m), kid: kidOf(c.device), contentType: CT_CONNECT_TOKEN });

  it('verifies for its device and client id', () => {
    expect(verifyConnectToken(token, c.deviceCert, c.deviceIdHex, NOW + 10, { audience: 'gw.example' }).sub).toBe(c.deviceIdHex);
    expect(decodeConnectToken(token).claims.exp).toBe(NOW + 600);
  });
  it('TOKEN_EXPIRED outside [iat - skew, exp + skew)', async () => {
    expect(await codeOf(() => verifyConnectToken(token, c.deviceCert, c.deviceIdHex, NOW + 900))).toBe('TOKEN_EXPIRED');
    expect(await codeOf(() => verifyConnectToken(token, c.deviceCert, c.deviceIdHex, NOW + 899))).toBe('NO_ERROR');
    expect(await codeOf(() => verifyConnectToken(token, c.deviceCert, c.deviceIdHex, NOW - 301))).toBe('TOKEN_EXPIRED');
    // mutant CT1 (connect-token.ts `now + skew < iat` -> `<=`): a token dated exactly the skew ahead is taken
    expect(await codeOf(() => verifyConnectToken(token, c.deviceCert, c.deviceIdHex, NOW - 300))).toBe('NO_ERROR');
    expect(await codeOf(() => verifyConnectToken(token, c.deviceCert, c.deviceIdHex, NOW + 601, { skewSeconds: 0 }))).toBe('TOKEN_EXPIRED');
  });
  it('CLAIM_INVALID: wrong client id, audience, lifetime over 600 s, unknown claim', async () => {
    expect(await codeOf(() => verifyConnectToken(token, c.deviceCert, '01' + '00'.repeat(16), NOW))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => verifyConnectToken(token, c.deviceCert, c.deviceIdHex, NOW, { audience: 'other.example' }))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => createConnectToken(c.device, { aud: 'gw.example', iat: NOW, exp: NOW + 601 }))).toBe('CLAIM_INVALID');
    // mutant CT6 (connect-token.ts `exp <= iat` -> `exp < iat`): a token valid for no time at all is refused
    expect(await codeOf(async () => verifyConnectToken(await raw(new Map<unknown, unknown>([[2, c.deviceIdHex], [3, 'gw.example'], [4, NOW], [6, NOW]])), c.deviceCert, c.deviceIdHex, NOW))).toBe('CLAIM_INVALID');
    const m = new Map<unknown, unknown>([[2, c.deviceIdHex], [3, 'gw.example'], [4, NOW + 60], [6, NOW], [7, 'x']]);
    expect(await codeOf(async () => verifyConnectToken(await raw(m), c.deviceCert, c.deviceIdHex, NOW))).toBe('CLAIM_INVALID');
  });
  it('BAD_SIGNATURE, UNKNOWN_KEY, ROLE_VIOLATION, MALFORMED (a reading is not a token)', async () => {
    const bad = token.slice(); bad[bad.length - 1]! ^= 1;
    expect(await codeOf(() => verifyConnectToken(bad, c.deviceCert, c.deviceIdHex, NOW))).toBe('BAD_SIGNATURE');
    const other = await makeChain();
    const foreign = await createConnectToken(other.device, { sub: c.deviceIdHex, aud: 'gw.example', iat: NOW, exp: NOW + 60 });
    expect(await codeOf(() => verifyConnectToken(foreign, c.deviceCert, c.deviceIdHex, NOW))).toBe('UNKNOWN_KEY');
    const byAgency = await createConnectToken(c.agency, { sub: 'psb.example' as string, aud: 'gw.example', iat: NOW, exp: NOW + 60 }).catch((e) => e);
    expect(byAgency.code).toBe('CLAIM_INVALID');
    const reading = await signReading(c.device, sensorClaims(c));
    expect(await codeOf(() => verifyConnectToken(reading, c.deviceCert, c.deviceIdHex, NOW))).toBe('MALFORMED');
    expect(await codeOf(() => verifyConnectToken(token, c.agencyCert, c.deviceIdHex, NOW))).toBe('ROLE_VIOLATION');
    expect(await codeOf(() => verifyConnectToken(new Uint8Array(600), c.deviceCert, c.deviceIdHex, NOW))).toBe('TOO_LARGE');
  });
});

describe('proof of possession', async () => {
  const c = await makeChain();
  const nonce = new Uint8Array(16).fill(9);
  const opts = { agencyId: 'psb.example', nonce, now: NOW };
  const pop = await createProofOfPossession(c.device, { agencyId: 'psb.example', nonce, iat: NOW });
  it('verifies for the presented key', () => {
    expect(verifyProofOfPossession(pop, pubOf(c.device), opts).agencyId).toBe('psb.example');
  });
  it('rejects: UNKNOWN_KEY, CLAIM_INVALID (agency, nonce, ueid), CLOCK_SKEW, BAD_SIGNATURE', async () => {
    expect(await codeOf(() => verifyProofOfPossession(pop, pubOf(c.agency), opts))).toBe('UNKNOWN_KEY');
    expect(await codeOf(() => verifyProofOfPossession(pop, pubOf(c.device), { ...opts, agencyId: 'x.example' }))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => verifyProofOfPossession(pop, pubOf(c.device), { ...opts, nonce: new Uint8Array(16) }))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => verifyProofOfPossession(pop, pubOf(c.device), { ...opts, now: NOW + 301 }))).toBe('CLOCK_SKEW');
    const bad = pop.slice(); bad[bad.length - 1]! ^= 1;
    expect(await codeOf(() => verifyProofOfPossession(bad, pubOf(c.device), opts))).toBe('BAD_SIGNATURE');
    const m = new Map<unknown, unknown>([[256, new Uint8Array(17).fill(1)], [3, 'psb.example'], [10, nonce], [6, NOW]]);
    const wrongUeid = await createSign1({ signer: c.device, payload: encode(m), kid: kidOf(c.device), contentType: CT_PROOF_OF_POSSESSION });
    expect(await codeOf(() => verifyProofOfPossession(wrongUeid, pubOf(c.device), opts))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => createProofOfPossession(c.device, { agencyId: 'psb.example', nonce: new Uint8Array(4), iat: NOW }))).toBe('CLAIM_INVALID');
  });
});
