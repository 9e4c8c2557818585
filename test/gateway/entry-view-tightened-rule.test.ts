/**
 * An entry logged under rules since tightened: a reading whose subject commitment the biometric privacy rule now
 * refuses (BIOMETRIC_RAW_DATA since the biometric review) no longer opens. GET /v1/entries, /v1/devices/ID/entries and
 * GET /v1/entries/N built each entry's view with openReading and failed the whole page holding it (suspected by that
 * review); the entry is now served as logged, its payload, without the decoded `reading` view.
 */
import { describe, expect, it } from 'vitest';
import { entryView } from '../../gateway/http/routes/records.js';
import {
  BIO_SUBJECT_COMMITMENT, CLAIM_BIOMETRIC, CT_READING, createSign1, encode, encodeLogEntry, fromBase64, openReading, readingClaimsToMap, subjectCommitment,
  sha256, utf8ToBytes, type BiometricBody,
} from '../../protocol/index.js';
import { codeOf, kidOf, makeChain, sensorClaims } from '../protocol/fixtures.js';

describe('the view of an entry whose reading no longer opens', async () => {
  const c = await makeChain();
  const body: BiometricBody = { kind: 'biometric', purpose: 'identity-check', result: 'match', score: 912, subjectCommitment: subjectCommitment(sha256(utf8ToBytes('salt')), 'subject') };
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
