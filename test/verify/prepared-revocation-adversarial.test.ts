/**
 * Adversarial review of the prepared revocation list (protocol/verify-revocation-log.ts): a verdict against a prepared
 * list weighs only the statements indexed by the certRef (either ES256 encoding) or subject of the certificates it is
 * about, plus those that do not decode; the raw input (`verify --revocation-log`) weighs every one. Here, the cases
 * built to make them part (none did), each checked deep-equal between the two paths and for the code it must reach:
 * - statements naming a certificate by the other ES256 encoding than the one carried or listed beside it (the device's
 *   own, an earlier device certificate of its key, an agency renewal's by an ES256 root, a transferred device's);
 * - an agency revoked through a renewal whose certificate is only beside the statement, under another trusted root;
 * - a device key compromised through another agency's certificate of it (a transfer), with and without the
 *   certificates beside it;
 * - the list given out of order, with a statement twice (two indexes), with an index twice, with undecodable bytes;
 * - registry events' bundles (a device's and an agency's registration, a revocation entry) against the same lists;
 * - the remembered checkpoint openings: another verifier function (one that refuses every signature, then the real
 *   one, then the refusing one again), another origin, a key's window ending and the same list used again inside it or
 *   past it with another key still valid, and a failed check of one verdict mutated by its caller before the next verdict;
 * - statements naming a carried certificate (either encoding) under another subject: only the certRef index reaches them.
 * Each of these mutants of verify-revocation-log.ts was seen failing a test here: the twin encoding left out of the
 * certRef lookup, the subject lookup dropped, the undecodable statements dropped, the opening remembered without its
 * verifier, origin or keys, the failed check handed out uncopied. Pure protocol.
 */
import { describe, expect, test } from 'vitest';
import {
  commitRevocations, createRevocation, decodeCertificate, encodeLogEntry, ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_REVOCATION,
  issueCertificate, parseTrust, prepareRevocationLog, revocationsExtension, signCheckpoint, toBase64, verifyBundle,
  type DecodedCertificate, type LoggedRevocation, type ProofBundle, type RevocationLogInput, type RevocationReason, type Signer, type SignatureVerifier,
  type TrustMaterial, type Verdict,
} from '../../protocol/index.js';
import type { RevocationCertificates } from '../../protocol/revocation-listing.js';
import { referenceRoot } from '../../protocol/merkle/reference.js';
import { createNodeVerifier } from '../../gateway/crypto/node-verifier.js';
import { ALG_EDDSA, ALG_ES256, DAY, FIRMWARE, NOW, kidOf, pubOf, seedKey, signerFor, possessionFor } from '../protocol/fixtures.js';
import { ed25519NoteSigner } from '../../protocol/checkpoint.js';
import { CP, ORIGIN, RECEIVED_MS, c, make, readingEntry, vkey } from './bundle-fixtures.js';
import { twinCertificate as twinOf } from '../protocol/high-s-twin.js';

const verifier = createNodeVerifier();
const OTHER_CP = ed25519NoteSigner('other-key.example', seedKey('review-other-checkpoint-key'));
const fails = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);
const profile = { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE };
const certOf = async (issuer: Signer, iss: string, sub: string, holder: Signer, role: 'agency' | 'device' | 'root', iat: number, pop = false): Promise<DecodedCertificate> =>
  decodeCertificate(await issueCertificate(issuer, kidOf(issuer), {
    iss, sub, role, holderKey: pubOf(holder), iat, nbf: iat, exp: NOW + 365 * DAY,
    ...(role === 'device' ? { profile, ...(pop ? { proofOfPossession: await possessionFor(holder, iss) } : {}) } : {}),
  }));
/** The certificate under another subject: a statement naming it by certRef then says another `sub` than the certificate's. */
const liar = (cert: DecodedCertificate): DecodedCertificate => ({ ...cert, claims: { ...cert.claims, sub: `not-${cert.claims.sub}` } });
const revoke = (issuer: Signer, cert: DecodedCertificate, revokedFrom: number, reason: RevocationReason) => createRevocation(issuer, cert, { reason, revokedFrom, iat: NOW - 10 });


// A second trusted root, ES256 (its certificates have twins), certifying the same agency key and id.
const rootEs = signerFor(ALG_ES256, 'review-root-es256');
const rootEsCert = await certOf(rootEs, 'root-es.example', 'root-es.example', rootEs, 'root', NOW - 10 * DAY);
const agencyEs = await certOf(rootEs, 'root-es.example', 'psb.example', c.agency, 'agency', NOW - DAY);
const agencyEsLater = await certOf(rootEs, 'root-es.example', 'psb.example', c.agency, 'agency', NOW - DAY / 2);
const agencyEsEarlier = await certOf(rootEs, 'root-es.example', 'psb.example', c.agency, 'agency', NOW - 3 * DAY);
// The device's key: an earlier certificate by its agency, and one by another agency (before a transfer).
const earlierDevice = await certOf(c.agency, 'psb.example', c.deviceIdHex, c.device, 'device', NOW - 3 * DAY);
const otherAgency = signerFor(ALG_ES256, 'review-other-agency');
const otherAgencyCert = await certOf(c.root, 'root.example', 'other.example', otherAgency, 'agency', NOW - 5 * DAY);
const transferred = await certOf(otherAgency, 'other.example', c.deviceIdHex, c.device, 'device', NOW - 4 * DAY);
// Another agency id under the ES256 root (another key).
const elsewhere = signerFor(ALG_EDDSA, 'review-elsewhere');
const elsewhereCert = await certOf(rootEs, 'root-es.example', 'elsewhere.example', elsewhere, 'agency', NOW - DAY);

const trust: TrustMaterial = parseTrust({
  roots: [{ certificate: toBase64(c.rootCert.bytes) }, { certificate: toBase64(rootEsCert.bytes) }], checkpointKeys: [vkey(CP)], origin: ORIGIN,
});

type Listed = { statement: Uint8Array } & RevocationCertificates;
const S = {
  deviceTwin: { statement: await revoke(c.agency, twinOf(c.deviceCert), NOW - 60, 'decommissioned') },
  deviceTwinLater: { statement: await revoke(c.agency, twinOf(c.deviceCert), NOW + 60, 'keyCompromise') },
  earlierDeviceTwinKc: { statement: await revoke(c.agency, twinOf(earlierDevice), NOW - 60, 'keyCompromise'), certificate: earlierDevice.bytes, issuer: c.agencyCert.bytes },
  earlierDeviceTwinKcBare: { statement: await revoke(c.agency, twinOf(earlierDevice), NOW - 60, 'keyCompromise') },
  laterAgencyTwin: { statement: await revoke(rootEs, twinOf(agencyEsLater), NOW - 60, 'cessationOfOperation'), certificate: agencyEsLater.bytes },
  laterAgencyTwinBare: { statement: await revoke(rootEs, twinOf(agencyEsLater), NOW - 60, 'cessationOfOperation') },
  earlierAgencyTwinKc: { statement: await revoke(rootEs, twinOf(agencyEsEarlier), NOW - 60, 'keyCompromise'), certificate: agencyEsEarlier.bytes },
  earlierAgencyKcTwinBeside: { statement: await revoke(rootEs, agencyEsEarlier, NOW - 60, 'keyCompromise'), certificate: twinOf(agencyEsEarlier).bytes },
  chainAgencyEsTwin: { statement: await revoke(rootEs, twinOf(agencyEs), NOW - 60, 'affiliationChanged'), certificate: agencyEs.bytes },
  transferredTwinKc: { statement: await revoke(otherAgency, twinOf(transferred), NOW - 60, 'keyCompromise'), certificate: transferred.bytes, issuer: otherAgencyCert.bytes },
  transferredTwinKcBare: { statement: await revoke(otherAgency, twinOf(transferred), NOW - 60, 'keyCompromise') },
  elsewhereKc: { statement: await revoke(rootEs, elsewhereCert, NOW - 60, 'keyCompromise'), certificate: elsewhereCert.bytes },
  garbage: { statement: new Uint8Array([0xd2, 0x84, 0x40]) },
  // signed by the right issuer, naming the device's (or the ES256 chain agency's) certificate by its twin under another subject
  deviceTwinOtherSub: { statement: await revoke(c.agency, liar(twinOf(c.deviceCert)), NOW - 60, 'decommissioned') },
  deviceOtherSub: { statement: await revoke(c.agency, liar(c.deviceCert), NOW + 60, 'decommissioned') },
  agencyEsTwinOtherSub: { statement: await revoke(rootEs, liar(twinOf(agencyEs)), NOW - 60, 'keyCompromise'), certificate: agencyEs.bytes },
} satisfies Record<string, Listed>;

// The log: a reading at 0, a device's registration at 1, the agency's at 2, a revocation entry at 3; filler to 40.
const SIZE = 40;
const entries = [
  await readingEntry(),
  encodeLogEntry({ type: ENTRY_DEVICE_REGISTRATION, index: 1, receivedAtMs: RECEIVED_MS, payload: (await certOf(c.agency, 'psb.example', c.deviceIdHex, c.device, 'device', NOW - 2 * DAY, true)).bytes, certRef: c.agencyCert.certRef }),
  encodeLogEntry({ type: ENTRY_AGENCY_REGISTRATION, index: 2, receivedAtMs: RECEIVED_MS, payload: c.agencyCert.bytes }),
  encodeLogEntry({ type: ENTRY_REVOCATION, index: 3, receivedAtMs: RECEIVED_MS, payload: await revoke(c.agency, c.deviceCert, NOW - 5, 'decommissioned'), certRef: c.agencyCert.certRef }),
  ...Array.from({ length: SIZE - 4 }, (_, i) => new Uint8Array([0x40 + (i % 20), i])),
];
const reading = await make({ entries });
const readingEs = await make({ entries, certificates: [c.deviceCert.bytes, agencyEs.bytes] });
const stripped = { ...reading, revocations: [] };
const registrations: ProofBundle[] = [
  await make({ entries, index: 1, certificates: [c.agencyCert.bytes] }),
  await make({ entries, index: 2, certificates: [] }),
  await make({ entries, index: 3, certificates: [c.deviceCert.bytes, c.agencyCert.bytes] }),
];
const bundles = [reading, readingEs, stripped, ...registrations];

/** A list of these statements at indexes 4, 5, ... (in the order given), with the checkpoint committing to them. */
async function listOf(listed: readonly Listed[], o: { given?: (l: LoggedRevocation[]) => LoggedRevocation[]; origin?: string } = {}): Promise<RevocationLogInput> {
  const revocations = listed.map((l, i) => ({ index: 4 + i, ...l }));
  const checkpoint = await signCheckpoint(
    { origin: o.origin ?? ORIGIN, size: SIZE, root: referenceRoot(entries), extensions: [revocationsExtension(commitRevocations(revocations))] }, CP,
  );
  return { checkpoint, revocations: o.given ? (o.given(revocations) as RevocationLogInput['revocations']) : revocations };
}

/** Every bundle's verdict against the list, prepared and raw: deep-equal; the reading's codes returned. */
function both(log: RevocationLogInput, tr: TrustMaterial = trust, now = NOW + 100, v: SignatureVerifier = verifier): Verdict[] {
  const prepared = prepareRevocationLog(log, tr, now, { verifier: v });
  return bundles.map((b) => {
    const raw = verifyBundle(b, tr, { verifier: v, now, revocationLog: log });
    const got = verifyBundle(b, tr, { verifier: v, now, revocationLog: prepared });
    expect(got).toEqual(raw);
    return got;
  });
}

describe('prepared revocation list: adversarial cases against the raw input', () => {
  test('the bundles verify against an empty list', async () => {
    const v = both(await listOf([]));
    expect(v.map(fails)).toEqual(bundles.map(() => []));
  });

  test('statements naming a certificate by its other ES256 encoding', async () => {
    const codes = async (...listed: Listed[]) => both(await listOf(listed)).map(fails);
    // the device's own certificate, revoked through its twin: every reading bundle (the stripped one too)
    expect((await codes(S.deviceTwin)).slice(0, 3)).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
    expect((await codes(S.deviceTwinLater)).slice(0, 3)).toEqual([[], [], []]);
    // an earlier certificate of the device key, keyCompromise through its twin: with or without the certificates beside
    expect((await codes(S.earlierDeviceTwinKc)).slice(0, 3)).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
    expect((await codes(S.earlierDeviceTwinKcBare))[2]).toEqual([['revocation', 'CERT_REVOKED']]);
    // an agency renewal by the ES256 root, revoked through its twin, the registered encoding beside it: the agency of
    // the reading's time, left out of both chains
    expect((await codes(S.laterAgencyTwin)).slice(0, 3)).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
    expect((await codes(S.laterAgencyTwinBare)).slice(0, 3)).toEqual([[['revocation', 'UNKNOWN_KEY']], [['revocation', 'UNKNOWN_KEY']], [['revocation', 'UNKNOWN_KEY']]]);
    // an earlier agency certificate of the key, keyCompromise, named by one encoding with the other beside it
    for (const s of [S.earlierAgencyTwinKc, S.earlierAgencyKcTwinBeside]) {
      expect((await codes(s)).slice(0, 3)).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
    }
    // the ES256 chain's own agency certificate, released through its twin: that chain's reading
    expect((await codes(S.chainAgencyEsTwin))[1]).toEqual([['revocation', 'CERT_REVOKED']]);
    // the device key compromised by the agency it had before a transfer, through its certificate's twin
    expect((await codes(S.transferredTwinKc)).slice(0, 3)).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
    expect((await codes(S.transferredTwinKcBare)).slice(0, 3)).toEqual([[['revocation', 'UNKNOWN_KEY']], [['revocation', 'UNKNOWN_KEY']], [['revocation', 'UNKNOWN_KEY']]]);
    // a statement naming a carried certificate (either encoding) under another subject is weighed, not passed over:
    // only the certRef index reaches it (seen passed over with the twin encoding left out of the lookup)
    const liars = [await codes(S.deviceTwinOtherSub), await codes(S.deviceOtherSub), await codes(S.agencyEsTwinOtherSub)];
    expect(liars.map((v) => v.slice(0, 3).map((f) => f.length > 0))).toEqual([[true, true, true], [true, true, true], [false, true, false]]);
  });

  test('registry events against the same statements', async () => {
    const reg = async (...listed: Listed[]) => both(await listOf(listed)).slice(3).map(fails);
    // a device registration after its key was compromised through an earlier certificate (by subject)
    expect((await reg(S.earlierDeviceTwinKcBare))[0]).toEqual([['revocation', 'CERT_REVOKED']]);
    // an agency key compromised through an earlier certificate by another trusted root: its registration, its device's
    expect((await reg(S.earlierAgencyTwinKc)).slice(0, 2)).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
    // a revocation entry only restricts: statements about its certificates change nothing; one that does not decode fails it
    expect((await reg(S.deviceTwin, S.earlierAgencyTwinKc))[2]).toEqual([]);
    expect((await reg(S.garbage))[2]).toEqual([['revocation', 'MALFORMED']]);
  });

  test('many statements at once, in any order given, with duplicates and undecodable bytes', async () => {
    const all = Object.values(S);
    const reversed = both(await listOf(all, { given: (l) => [...l].reverse() }));
    expect(reversed.map(fails).slice(0, 3)).toEqual([[['revocation', 'MALFORMED']], [['revocation', 'MALFORMED']], [['revocation', 'MALFORMED']]]);
    const liars: Listed[] = [S.deviceTwinOtherSub, S.deviceOtherSub, S.agencyEsTwinOtherSub];
    const decodable = all.filter((s) => s !== S.garbage && !liars.includes(s));
    const shuffled = both(await listOf(decodable, { given: (l) => [...l.filter((_, i) => i % 2), ...l.filter((_, i) => !(i % 2))] }));
    expect(shuffled.map(fails).slice(0, 3)).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
    // with the statements under another subject too (one fails the check first: the same one either way)
    const withLiars = both(await listOf(all.filter((s) => s !== S.garbage), { given: (l) => [...l].reverse() }));
    expect(withLiars.map(fails).slice(0, 3)).toEqual([[['revocation', 'CLAIM_INVALID']], [['revocation', 'CLAIM_INVALID']], [['revocation', 'CLAIM_INVALID']]]);
    // the same statement at two indexes (a log may hold it twice), and the statement a reading needs listed last
    const twice = both(await listOf([S.elsewhereKc, S.deviceTwinLater, S.deviceTwinLater, S.elsewhereKc, S.deviceTwin]));
    expect(twice.map(fails).slice(0, 3)).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
    // an index listed twice: the list does not open, either way
    const dup = await listOf([S.deviceTwinLater, S.deviceTwin]);
    const doubled = both({ ...dup, revocations: [...dup.revocations, dup.revocations[1]!] });
    expect(doubled.map(fails)[0]).toEqual([['revocation', 'CHECKPOINT_INVALID']]);
    // only statements about others (another agency id's key, statements about nothing carried): every bundle passes
    expect(both(await listOf([S.elsewhereKc, S.elsewhereKc])).map(fails)).toEqual(bundles.map(() => []));
  });

  test('one preparation, remembered openings: another verifier, another origin, a key window, a failed check mutated', async () => {
    const log = await listOf([S.deviceTwinLater, S.elsewhereKc]);
    const refuse: SignatureVerifier = () => false;
    const windowed: TrustMaterial = { ...trust, checkpointKeys: trust.checkpointKeys.map((k) => ({ ...k, notAfter: NOW + 200 })) };
    const otherOrigin: TrustMaterial = { ...trust, origin: 'other.example/log' };
    const prepared = prepareRevocationLog(log, trust, NOW + 100, { verifier });
    const run = (tr: TrustMaterial, now: number, v: SignatureVerifier | undefined): Verdict => {
      const opts = { now, ...(v ? { verifier: v } : {}) };
      const got = verifyBundle(stripped, tr, { ...opts, revocationLog: prepared });
      expect(got).toEqual(verifyBundle(stripped, tr, { ...opts, revocationLog: log }));
      return got;
    };
    const rev = (v: Verdict) => v.checks.find((x) => x.name === 'revocation')!;
    expect(rev(run(trust, NOW + 100, verifier)).status).toBe('pass');
    expect(rev(run(trust, NOW + 100, refuse)).status).toBe('fail');
    expect(rev(run(trust, NOW + 100, verifier)).status).toBe('pass');
    expect(rev(run(trust, NOW + 100, undefined)).status).toBe('pass');
    expect(rev(run(trust, NOW + 100, refuse)).status).toBe('fail');
    expect(rev(run(otherOrigin, NOW + 100, verifier)).code).toBe('CHECKPOINT_INVALID');
    expect(rev(run(trust, NOW + 100, verifier)).status).toBe('pass');
    // a key's window: open inside it, CHECKPOINT_INVALID past it, open again inside it (the same preparation)
    expect(rev(run(windowed, NOW + 100, verifier)).status).toBe('pass');
    expect(rev(run(windowed, NOW + 300, verifier)).code).toBe('CHECKPOINT_INVALID');
    expect(rev(run(windowed, NOW + 100, verifier)).status).toBe('pass');
    // with another key valid throughout: past the window the keys are not none, only other ones (the opening with the
    // key that signed the list is not taken for them)
    const twoKeys = parseTrust({ roots: [{ certificate: toBase64(c.rootCert.bytes) }, { certificate: toBase64(rootEsCert.bytes) }], checkpointKeys: [vkey(CP), vkey(OTHER_CP)], origin: ORIGIN });
    const twoWindowed: TrustMaterial = { ...twoKeys, checkpointKeys: twoKeys.checkpointKeys.map((k, i) => (i === 0 ? { ...k, notAfter: NOW + 200 } : k)) };
    expect(rev(run(twoWindowed, NOW + 100, verifier)).status).toBe('pass');
    expect(rev(run(twoWindowed, NOW + 300, verifier)).code).toBe('CHECKPOINT_INVALID');
    expect(rev(run(twoWindowed, NOW + 100, verifier)).status).toBe('pass');
    // a verdict's failed check, mutated by its caller, is not the next verdict's
    const first = rev(run(otherOrigin, NOW + 100, verifier));
    const kept = { ...first };
    Object.assign(first, { status: 'pass', code: undefined, message: 'mutated' });
    expect(rev(run(otherOrigin, NOW + 100, verifier))).toEqual(kept);
    const refused = rev(run(trust, NOW + 100, refuse));
    const keptRefused = { ...refused };
    Object.assign(refused, { status: 'pass', code: undefined, message: 'mutated' });
    expect(rev(run(trust, NOW + 100, refuse))).toEqual(keptRefused);
    expect(prepared.list.opened.length).toBeLessThanOrEqual(2);
  });
});
