/**
 * An entry logged under rules since tightened: a reading whose subject commitment the biometric privacy rule now
 * refuses (BIOMETRIC_RAW_DATA since the biometric review) no longer opens. GET /v1/entries, /v1/devices/ID/entries and
 * GET /v1/entries/N built each entry's view with openReading and failed the whole page holding it (suspected by that
 * review); the entry is now served as logged, its payload, without the decoded `reading` view. Its bundle failed to
 * build the same way (422): it is now made, placed by the certificate the entry pins, for the verifier to judge.
 */
import { describe, expect, it } from 'vitest';
import { entryView } from '../../gateway/http/routes/records.js';
import { bundleMaterial } from '../../gateway/bundle-material.js';
import { register, useTrustedGateway, type TestGateway } from './harness.js';
import {
  BIO_SUBJECT_COMMITMENT, CLAIM_BIOMETRIC, CT_READING, createSign1, encode, encodeLogEntry, fromBase64, openReading, readingClaimsToMap, subjectCommitment,
  sha256, utf8ToBytes, type BiometricBody,
} from '../../protocol/index.js';
import { codeOf, kidOf, makeChain, sensorClaims } from '../protocol/fixtures.js';

const body: BiometricBody = { kind: 'biometric', purpose: 'identity-check', result: 'match', score: 912, subjectCommitment: subjectCommitment(sha256(utf8ToBytes('salt')), 'subject') };
describe('the view of an entry whose reading no longer opens', async () => {
  const c = await makeChain();
  const signedWith = async (commitment: Uint8Array) => {
    const m = readingClaimsToMap(sensorClaims(c, 1, { body }));
    (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(BIO_SUBJECT_COMMITMENT, commitment);
    return createSign1({ signer: c.device, payload: encode(m), kid: kidOf(c.device), contentType: CT_READING });
  };
  const logged = (payload: Uint8Array) => encodeLogEntry({ type: 1, index: 7, receivedAtMs: 1_767_225_600_000, payload, certRef: new Uint8Array(32).fill(1) });

  it('is served as logged, without the decoded reading; a reading that opens still gets it', async () => {
    const legacy = await signedWith(new Uint8Array(32)); // all zeros: no digest
    expect(await codeOf(() => openReading(legacy))).toBe('BIOMETRIC_RAW_DATA');
    const view = entryView(logged(legacy));
    expect(view).toMatchObject({ index: 7, type: 'reading', receivedAtMs: 1_767_225_600_000 });
    expect(fromBase64(view.payload)).toEqual(legacy);
    expect(view.reading).toBeUndefined();
    expect(entryView(logged(await signedWith(body.subjectCommitment))).reading).toMatchObject({ seq: 1, body: { kind: 'biometric', purpose: 'identity-check' } });
  });
});

describe('the bundle of an entry whose reading no longer opens', async () => {
  const c = await makeChain();
  let t: TestGateway;
  useTrustedGateway((g) => (t = g.t), { blockMaxMs: 5 });
  it("is made from the certificate its entry pins and its agency's, not refused", async () => {
    const agency = await t.pki.agency('legacy.example');
    const d = await t.pki.device(agency);
    await register(t.gw, agency, [d]);
    const m = readingClaimsToMap(sensorClaims(c, 1, { body }));
    (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(BIO_SUBJECT_COMMITMENT, new Uint8Array(32));
    const legacy = await createSign1({ signer: c.device, payload: encode(m), kid: kidOf(c.device), contentType: CT_READING });
    const entry = { type: 1 as const, index: 9, receivedAtMs: Date.now(), payload: legacy, certRef: d.cert.certRef };
    expect(bundleMaterial(t.gw.registry, entry).certificates).toEqual([d.cert.bytes, agency.cert.bytes]);
  });
});
