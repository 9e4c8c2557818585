/**
 * The offline verifier on registry events (agency registration 2, device registration 3, revocation 4) and on the
 * times a checkpoint key is chosen by. Pure: one-block logs built here, no gateway.
 * - A registry event verifies only if its payload is what the gateway had to check: the certificate's chain to a
 *   trusted root at the entry's receivedAt (with the agency certificate the entry's certRef names, for a device), or
 *   the revocation against the certificate it names and that certificate's issuer. Missing material fails.
 * - signed time (iat) <= receivedAt + skew, receivedAt <= block time, checked before a checkpoint key is chosen.
 */
import { describe, expect, it } from 'vitest';
import {
  ALG_EDDSA, ALG_ES256, CT_CERTIFICATE, claimsToMap, createRevocation, createSign1, decodeCertificate, deviceIdFromKey, deviceIdToHex, encode, issueCertificate, signReading,
  type DecodedCertificate, type Signer,
} from '../../protocol/index.js';
import { toBase64 } from '../../protocol/bytes.js';
import { encodeBlockHeader, type ProofBundle } from '../../protocol/bundle.js';
import { ed25519NoteSigner, formatVerifierKey, signCheckpoint } from '../../protocol/checkpoint.js';
import { encodeLogEntry, type LogEntry } from '../../protocol/log-entry.js';
import { referencePath, referenceRoot } from '../../protocol/merkle/reference.js';
import { DEFAULT_MAX_SKEW_SECONDS } from '../../protocol/reading.js';
import { parseTrust } from '../../protocol/trust.js';
import { blockExtension, verifyBundle, type Check, type Verdict, type VerifyBundleOptions } from '../../protocol/verify-bundle.js';
import { DAY, FIRMWARE, NOW, kidOf, makeChain, pubOf, sensorClaims, signerFor, type Chain , codeOf } from '../protocol/fixtures.js';

const ORIGIN = 'registry.example/log';
const K1 = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(21));
const K2 = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(22));
const vkey = (s: typeof K1) => formatVerifierKey(s.name, s.publicKey);
const RECEIVED_MS = NOW * 1000 + 100;

type Keys = { key: string; notBefore?: number; notAfter?: number }[];
const trustOf = (c: Chain, keys: Keys = [{ key: vkey(K1) }]) => parseTrust({ roots: [{ certificate: toBase64(c.rootCert.bytes) }], checkpointKeys: keys, origin: ORIGIN });

/** A one-block log holding `entries` (at their positions); the bundle of entry `index`, bound to its block. */
/** With `unbound`, the entry's block ends at it and the checkpoint (over all entries) is a later one. */
async function bundleFor(entries: Omit<LogEntry, 'index'>[], index: number, o: { certificates?: Uint8Array[]; revocations?: Uint8Array[]; signer?: typeof K1; timeMs?: number; unbound?: boolean } = {}): Promise<ProofBundle> {
  const bytes = entries.map((e, i) => encodeLogEntry({ ...e, index: i }));
  const size = bytes.length;
  const inBlock = o.unbound ? bytes.slice(0, index + 1) : bytes;
  const header = encodeBlockHeader({ height: 0, prevHash: new Uint8Array(32), firstIndex: 0, lastIndex: inBlock.length - 1, treeSize: inBlock.length, root: referenceRoot(inBlock), timeMs: o.timeMs ?? NOW * 1000 + 500 });
  const checkpoint = await signCheckpoint({ origin: ORIGIN, size, root: referenceRoot(bytes), extensions: o.unbound ? [] : [blockExtension(0, header)] }, o.signer ?? K1);
  return {
    entry: bytes[index]!, index, treeSize: size, inclusionProof: referencePath(index, bytes), checkpoint, blockHeader: header,
    certificates: o.certificates ?? [], revocations: o.revocations ?? [],
  };
}

const entryOf = (type: 1 | 2 | 3 | 4, payload: Uint8Array, certRef?: Uint8Array, receivedAtMs = RECEIVED_MS): Omit<LogEntry, 'index'> =>
  certRef ? { type, receivedAtMs, payload, certRef } : { type, receivedAtMs, payload };

const get = (v: Verdict, name: string): Check => v.checks.find((c) => c.name === name)!;
const fails = (v: Verdict) => v.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code]);
const statuses = (v: Verdict) => v.checks.map((c) => [c.name, c.status]);
const ALL_PASS = [['signature', 'pass'], ['chain', 'pass'], ['revocation', 'pass'], ['claims', 'pass'], ['inclusion', 'pass'], ['checkpoint', 'pass'], ['consistency', 'skip']];

function expectInvalid(v: Verdict, expected: [string, string][]): void {
  expect(v.valid).toBe(false);
  expect(fails(v)).toEqual(expected);
}

async function otherAgency(c: Chain, label = 'other agency'): Promise<{ signer: Signer; cert: DecodedCertificate }> {
  const signer = signerFor(ALG_ES256, label);
  const cert = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), {
    iss: 'root.example', sub: 'other.example', role: 'agency', holderKey: pubOf(signer), iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + 365 * DAY, cti: new Uint8Array(16).fill(9),
  }));
  return { signer, cert };
}

describe('registry events: the payload is checked, not only its inclusion', () => {
  it('a payload that is no certificate or revocation fails claims (MALFORMED) for each registry type', async () => {
    const c = await makeChain();
    for (const type of [2, 3, 4] as const) {
      const b = await bundleFor([entryOf(type, new TextEncoder().encode('not a certificate at all'), type === 2 ? undefined : c.agencyCert.certRef)], 0);
      const v = verifyBundle(b, trustOf(c));
      expectInvalid(v, [['claims', 'MALFORMED']]);
      expect(get(v, 'inclusion').status).toBe('pass');
      expect(['signature', 'chain', 'revocation'].map((n) => get(v, n).status)).toEqual(['skip', 'skip', 'skip']);
    }
  });

  describe('agency registration (2)', () => {
    it('an agency certificate signed by a trusted root, valid when received, verifies with every check passing', async () => {
      const c = await makeChain();
      const v = verifyBundle(await bundleFor([entryOf(2, c.agencyCert.bytes)], 0), trustOf(c));
      expect(statuses(v)).toEqual(ALL_PASS);
      expect(v.valid).toBe(true);
      expect(v.record).toMatchObject({ entryType: 2, agency: 'psb.example', root: 'root.example' });
      expect(get(v, 'chain').message).toMatch(/psb\.example <- root\.example, valid at 1767225600/);
    });

    it('rejects a certificate of another role (ROLE_VIOLATION), a certRef (CLAIM_INVALID), an untrusted root (UNKNOWN_KEY)', async () => {
      const c = await makeChain();
      const t = trustOf(c);
      expectInvalid(verifyBundle(await bundleFor([entryOf(2, c.deviceCert.bytes)], 0), t), [['claims', 'ROLE_VIOLATION']]);
      expectInvalid(verifyBundle(await bundleFor([entryOf(2, c.agencyCert.bytes, c.agencyCert.certRef)], 0), t), [['claims', 'CLAIM_INVALID']]);
      const stranger = signerFor(ALG_EDDSA, 'untrusted root');
      const forged = await issueCertificate(stranger, kidOf(stranger), {
        iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(c.agency), iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + DAY,
      });
      expectInvalid(verifyBundle(await bundleFor([entryOf(2, forged)], 0), t), [['signature', 'UNKNOWN_KEY'], ['chain', 'UNKNOWN_KEY']]);
    });

    it('is checked at the entry time: expired or not yet valid then fails the chain', async () => {
      const c = await makeChain();
      const t = trustOf(c);
      const late = (NOW + 400 * DAY) * 1000;
      // verified once that time has come: a block dated after the verifier's clock (+ skew) is refused
      expectInvalid(verifyBundle(await bundleFor([entryOf(2, c.agencyCert.bytes, undefined, late)], 0, { timeMs: late + 1, signer: K1 }), t, { now: late / 1000 }), [['chain', 'CERT_EXPIRED']]);
      const early = (NOW - 2 * DAY) * 1000;
      // (the certificate was also issued, NOW - DAY, more than the skew after that entry time: CLOCK_SKEW as well)
      expectInvalid(verifyBundle(await bundleFor([entryOf(2, c.agencyCert.bytes, undefined, early)], 0, { timeMs: early + 1 }), t), [['chain', 'CERT_NOT_YET_VALID'], ['checkpoint', 'CLOCK_SKEW']]);
    });

    it('a revocation of the agency covering the entry time fails it (bundle or verifier-held); a later one does not', async () => {
      const c = await makeChain();
      const t = trustOf(c);
      const covering = await createRevocation(c.root, c.agencyCert, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW - 10 });
      const later = await createRevocation(c.root, c.agencyCert, { reason: 'decommissioned', revokedFrom: NOW + DAY, iat: NOW });
      const entries = [entryOf(2, c.agencyCert.bytes)];
      expectInvalid(verifyBundle(await bundleFor(entries, 0, { revocations: [covering] }), t), [['revocation', 'CERT_REVOKED']]);
      expectInvalid(verifyBundle(await bundleFor(entries, 0), t, { revocations: [covering] }), [['revocation', 'CERT_REVOKED']]);
      const ok = verifyBundle(await bundleFor(entries, 0, { revocations: [later] }), t);
      expect(ok.valid).toBe(true);
      expect(get(ok, 'revocation').message).toMatch(/1 revocation\(s\) known; none covers time 1767225600/);
      // a revocation of anything else rides along unverifiable: rejected
      const dev = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW, iat: NOW });
      expectInvalid(verifyBundle(await bundleFor(entries, 0, { revocations: [dev] }), t), [['revocation', 'CLAIM_INVALID']]);
      // and a certificate outside the chain
      expectInvalid(verifyBundle(await bundleFor(entries, 0, { certificates: [c.deviceCert.bytes] }), t), [['chain', 'CHAIN_INVALID']]);
    });
  });

  describe('device registration (3)', () => {
    it('verifies against the agency certificate its certRef names, which the bundle carries', async () => {
      const c = await makeChain();
      const v = verifyBundle(await bundleFor([entryOf(3, c.deviceCert.bytes, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), trustOf(c));
      expect(statuses(v)).toEqual(ALL_PASS);
      expect(v.valid).toBe(true);
      expect(v.record).toMatchObject({ entryType: 3, deviceId: c.deviceIdHex, agency: 'psb.example', root: 'root.example' });
      // the root's own certificate may ride along
      expect(verifyBundle(await bundleFor([entryOf(3, c.deviceCert.bytes, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes, c.rootCert.bytes] }), trustOf(c)).valid).toBe(true);
    });

    it('without the agency certificate the verdict is not valid (CHAIN_INVALID), never a skip', async () => {
      const c = await makeChain();
      const v = verifyBundle(await bundleFor([entryOf(3, c.deviceCert.bytes, c.agencyCert.certRef)], 0), trustOf(c));
      expectInvalid(v, [['chain', 'CHAIN_INVALID']]);
      expect(get(v, 'chain').message).toMatch(/no certificate for the agency/);
    });

    it('rejects a missing certRef (CLAIM_INVALID), a certRef naming another certificate (CHAIN_INVALID), an agency that did not sign it', async () => {
      const c = await makeChain();
      const t = trustOf(c);
      expectInvalid(verifyBundle(await bundleFor([entryOf(3, c.deviceCert.bytes)], 0, { certificates: [c.agencyCert.bytes] }), t), [['claims', 'CLAIM_INVALID']]);
      const other = await otherAgency(c);
      expectInvalid(verifyBundle(await bundleFor([entryOf(3, c.deviceCert.bytes, other.cert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), t), [['chain', 'CHAIN_INVALID']]);
      // the entry names the other agency and the bundle carries it: the device certificate is not that agency's
      const v = verifyBundle(await bundleFor([entryOf(3, c.deviceCert.bytes, other.cert.certRef)], 0, { certificates: [other.cert.bytes] }), t);
      expectInvalid(v, [['signature', 'BAD_SIGNATURE'], ['chain', 'CHAIN_INVALID']]);
      // an agency certificate is not a device registration
      expectInvalid(verifyBundle(await bundleFor([entryOf(3, c.agencyCert.bytes, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), t), [['claims', 'ROLE_VIOLATION']]);
    });

    it('a revocation of the agency covering the registration time fails it', async () => {
      const c = await makeChain();
      const rev = await createRevocation(c.root, c.agencyCert, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW - 10 });
      const v = verifyBundle(await bundleFor([entryOf(3, c.deviceCert.bytes, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes], revocations: [rev] }), trustOf(c));
      expectInvalid(v, [['revocation', 'CERT_REVOKED']]);
    });

    // The gateway registers no device certificate without the device's proof of possession for its agency (squatting:
    // test/gateway/device-possession.test.ts); an entry of one without it did not pass the gateway's checks.
    it("a device certificate without the device's proof of possession fails claims (CLAIM_INVALID); one whose proof is forged fails the chain (BAD_SIGNATURE)", async () => {
      const c = await makeChain();
      const { proofOfPossession, ...claims } = c.deviceCert.claims;
      const bare = await issueCertificate(c.agency, kidOf(c.agency), claims);
      const v = verifyBundle(await bundleFor([entryOf(3, bare, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), trustOf(c));
      expectInvalid(v, [['claims', 'CLAIM_INVALID']]);
      expect(get(v, 'claims').message).toContain('(at entry.payload.claims.pop)');
      const forgedProof = proofOfPossession!.slice();
      forgedProof[forgedProof.length - 1]! ^= 1;
      const forged = await createSign1({ signer: c.agency, payload: encode(claimsToMap({ ...claims, proofOfPossession: forgedProof })), kid: kidOf(c.agency), contentType: CT_CERTIFICATE });
      const f = verifyBundle(await bundleFor([entryOf(3, forged, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), trustOf(c));
      expectInvalid(f, [['chain', 'BAD_SIGNATURE']]);
    });
  });

  describe('revocation (4)', () => {
    it("a device's revocation verifies against the device certificate and its agency (certRef); an expired device may be revoked", async () => {
      const c = await makeChain();
      const rev = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW - 5 });
      const v = verifyBundle(await bundleFor([entryOf(4, rev, c.agencyCert.certRef)], 0, { certificates: [c.deviceCert.bytes, c.agencyCert.bytes] }), trustOf(c));
      expect(statuses(v)).toEqual(ALL_PASS);
      expect(v.record).toMatchObject({ entryType: 4, deviceId: c.deviceIdHex, agency: 'psb.example', root: 'root.example' });

      // a device certificate that expired before the revocation was logged: still a valid revocation
      const d = signerFor(ALG_EDDSA, 'short-lived device');
      const id = deviceIdToHex(deviceIdFromKey(pubOf(d)));
      const short = decodeCertificate(await issueCertificate(c.agency, kidOf(c.agency), {
        iss: 'psb.example', sub: id, role: 'device', holderKey: pubOf(d), iat: NOW - 30 * DAY, nbf: NOW - 30 * DAY, exp: NOW - 20 * DAY,
        profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
      }));
      const old = await createRevocation(c.agency, short, { reason: 'decommissioned', revokedFrom: NOW - 25 * DAY, iat: NOW });
      const e = verifyBundle(await bundleFor([entryOf(4, old, c.agencyCert.certRef)], 0, { certificates: [short.bytes, c.agencyCert.bytes] }), trustOf(c));
      expect(fails(e)).toEqual([]);
      expect(e.valid).toBe(true);
    });

    it('missing material fails: the revoked certificate (UNKNOWN_KEY), the agency certificate (CHAIN_INVALID)', async () => {
      const c = await makeChain();
      const t = trustOf(c);
      const rev = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW - 5 });
      expectInvalid(verifyBundle(await bundleFor([entryOf(4, rev, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), t), [['chain', 'UNKNOWN_KEY']]);
      expectInvalid(verifyBundle(await bundleFor([entryOf(4, rev, c.agencyCert.certRef)], 0, { certificates: [c.deviceCert.bytes] }), t), [['chain', 'CHAIN_INVALID']]);
      expectInvalid(verifyBundle(await bundleFor([entryOf(4, rev)], 0, { certificates: [c.deviceCert.bytes, c.agencyCert.bytes] }), t), [['chain', 'CHAIN_INVALID']]);
    });

    it("a revocation signed by another agency (ROLE_VIOLATION), or a forged one (BAD_SIGNATURE), fails the signature check", async () => {
      const c = await makeChain();
      const t = trustOf(c);
      const other = await otherAgency(c);
      // another agency "revokes" our device: createRevocation refuses, so forge the kid by issuing under its own name
      const theirs = await createRevocation(other.signer, { ...c.deviceCert, issuerKid: kidOf(other.signer) }, { reason: 'keyCompromise', revokedFrom: NOW, iat: NOW });
      const v = verifyBundle(await bundleFor([entryOf(4, theirs, other.cert.certRef)], 0, { certificates: [c.deviceCert.bytes, other.cert.bytes] }), t);
      expect(v.valid).toBe(false);
      expect(get(v, 'signature')).toMatchObject({ status: 'fail', code: 'ROLE_VIOLATION' });
      expect(get(v, 'chain')).toMatchObject({ status: 'fail', code: 'CHAIN_INVALID' });
      // a flipped signature byte
      const rev = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW - 5 });
      const bad = rev.slice();
      bad[bad.length - 1]! ^= 1;
      expectInvalid(verifyBundle(await bundleFor([entryOf(4, bad, c.agencyCert.certRef)], 0, { certificates: [c.deviceCert.bytes, c.agencyCert.bytes] }), t), [['signature', 'BAD_SIGNATURE']]);
    });

    it("an agency's revocation is checked against the trusted root; it has no certRef and carries no revocations", async () => {
      const c = await makeChain();
      const t = trustOf(c);
      const rev = await createRevocation(c.root, c.agencyCert, { reason: 'affiliationChanged', revokedFrom: NOW, iat: NOW });
      const v = verifyBundle(await bundleFor([entryOf(4, rev)], 0, { certificates: [c.agencyCert.bytes] }), t);
      expect(statuses(v)).toEqual(ALL_PASS);
      expect(v.record).toMatchObject({ entryType: 4, agency: 'psb.example', root: 'root.example' });
      expect(get(v, 'revocation').message).toMatch(/only restricts/);
      expectInvalid(verifyBundle(await bundleFor([entryOf(4, rev, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), t), [['chain', 'CLAIM_INVALID']]);
      expectInvalid(verifyBundle(await bundleFor([entryOf(4, rev)], 0, { certificates: [c.agencyCert.bytes], revocations: [rev] }), t), [['revocation', 'CLAIM_INVALID']]);
      // the root is not trusted by this verifier
      const strangerRoot = parseTrust({ roots: [{ certificate: toBase64((await otherRootChain()).bytes) }], checkpointKeys: [{ key: vkey(K1) }], origin: ORIGIN });
      const u = verifyBundle(await bundleFor([entryOf(4, rev)], 0, { certificates: [c.agencyCert.bytes] }), strangerRoot);
      expectInvalid(u, [['signature', 'UNKNOWN_KEY'], ['chain', 'UNKNOWN_KEY']]);
    });

    it("a device's revocation by an agency revoked or expired since still verifies: revoking only restricts, as the gateway takes it", async () => {
      const c = await makeChain();
      const rev = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW - 5 });
      const agencyRev = await createRevocation(c.root, c.agencyCert, { reason: 'keyCompromise', revokedFrom: NOW - 100, iat: NOW - 100 });
      const certificates = [c.deviceCert.bytes, c.agencyCert.bytes];
      const v = verifyBundle(await bundleFor([entryOf(4, rev, c.agencyCert.certRef)], 0, { certificates }), trustOf(c), { revocations: [agencyRev] });
      expect(fails(v)).toEqual([]);
      expect(v.valid).toBe(true);
      // a bundle carries no revocation for a revocation entry: one riding along is unverifiable baggage
      expectInvalid(verifyBundle(await bundleFor([entryOf(4, rev, c.agencyCert.certRef)], 0, { certificates, revocations: [agencyRev] }), trustOf(c)), [['revocation', 'CLAIM_INVALID']]);
      // logged after the agency's certificate expired
      const late = (c.agencyCert.claims.exp + 10) * 1000;
      const afterExpiry = verifyBundle(await bundleFor([entryOf(4, rev, c.agencyCert.certRef, late)], 0, { certificates, timeMs: late + 500 }), trustOf(c, [{ key: vkey(K1) }]), { now: late / 1000 });
      expect(fails(afterExpiry)).toEqual([]);
    });

    // gateway/registry-rules.ts assertIssuedBy refuses a certificate dated more than the clock skew after the gateway's
    // clock (CLAIM_INVALID); its registration entry verified offline all the same (only readings' and revocations' iat
    // were checked against receivedAt), so a retired checkpoint key could vouch for a certificate issued after it.
    it('a certificate issued later than the log received it (+ skew) fails the checkpoint check (CLOCK_SKEW), agency or device', async () => {
      const c = await makeChain();
      const ahead = (iat: number) => ({ iat, nbf: NOW - DAY, exp: NOW + 365 * DAY });
      const agencyCert = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(c.agency), ...ahead(NOW + DEFAULT_MAX_SKEW_SECONDS + 1) }));
      expectInvalid(verifyBundle(await bundleFor([entryOf(2, agencyCert.bytes)], 0), trustOf(c)), [['checkpoint', 'CLOCK_SKEW']]);
      const profile = c.deviceCert.claims.profile!;
      const device = (iat: number) => issueCertificate(c.agency, kidOf(c.agency), { iss: 'psb.example', sub: c.deviceIdHex, role: 'device', holderKey: pubOf(c.device), ...ahead(iat), profile, proofOfPossession: c.deviceCert.claims.proofOfPossession! });
      const late = await device(NOW + DEFAULT_MAX_SKEW_SECONDS + 1);
      expectInvalid(verifyBundle(await bundleFor([entryOf(3, late, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), trustOf(c)), [['checkpoint', 'CLOCK_SKEW']]);
      // up to the skew: as the gateway takes it
      const edge = await device(NOW + DEFAULT_MAX_SKEW_SECONDS);
      expect(fails(verifyBundle(await bundleFor([entryOf(3, edge, c.agencyCert.certRef)], 0, { certificates: [c.agencyCert.bytes] }), trustOf(c)))).toEqual([]);
    });

    it('a revocation issued later than the log received it (+ skew) fails the checkpoint check (CLOCK_SKEW)', async () => {
      const c = await makeChain();
      const rev = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW, iat: NOW + DEFAULT_MAX_SKEW_SECONDS + 1 });
      const v = verifyBundle(await bundleFor([entryOf(4, rev, c.agencyCert.certRef)], 0, { certificates: [c.deviceCert.bytes, c.agencyCert.bytes] }), trustOf(c));
      expectInvalid(v, [['checkpoint', 'CLOCK_SKEW']]);
    });
  });
});

async function otherRootChain(): Promise<DecodedCertificate> {
  const r = signerFor(ALG_EDDSA, 'another root');
  return decodeCertificate(await issueCertificate(r, kidOf(r), { iss: 'other-root.example', sub: 'other-root.example', role: 'root', holderKey: pubOf(r), iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + 3650 * DAY }));
}

describe('times: a checkpoint key is chosen only once the reading, log and block times agree', () => {
  const T1 = NOW - 30 * DAY; // K1 retired at T1, K2 from then on
  const rotated: Keys = [{ key: vkey(K1), notAfter: T1 }, { key: vkey(K2), notBefore: T1 }];

  async function readingBundle(c: Chain, o: { iat?: number; receivedAtMs?: number; timeMs?: number; signer?: typeof K1 } = {}, opts: VerifyBundleOptions = {}, keys: Keys = rotated) {
    const r = await signReading(c.device, sensorClaims(c, 1, { iat: o.iat ?? NOW }));
    const b = await bundleFor([entryOf(1, r, c.deviceCert.certRef, o.receivedAtMs ?? RECEIVED_MS)], 0, {
      certificates: [c.deviceCert.bytes, c.agencyCert.bytes], signer: o.signer ?? K2, ...(o.timeMs !== undefined ? { timeMs: o.timeMs } : {}),
    });
    return verifyBundle(b, trustOf(c, keys), opts);
  }

  it('honest: signed, received, sealed in that order, checkpoint by the key of the block time', async () => {
    const c = await makeChain();
    const v = await readingBundle(c);
    expect(statuses(v)).toEqual(ALL_PASS);
  });

  it('a retired key with a backdated block header: the block is dated before the entry was received (CHECKPOINT_INVALID)', async () => {
    const c = await makeChain();
    const v = await readingBundle(c, { signer: K1, timeMs: (T1 - 1) * 1000 });
    expectInvalid(v, [['checkpoint', 'CHECKPOINT_INVALID']]);
    expect(get(v, 'checkpoint').message).toMatch(/before the entry it holds was received/);
    expect(get(v, 'inclusion').status).toBe('skip');
  });

  it('a retired key with the entry backdated too: the reading was signed after it was received (CLOCK_SKEW)', async () => {
    const c = await makeChain();
    const v = await readingBundle(c, { signer: K1, receivedAtMs: (T1 - 2) * 1000, timeMs: (T1 - 1) * 1000 });
    expectInvalid(v, [['checkpoint', 'CLOCK_SKEW']]);
  });

  it('unbound mode (a later checkpoint): the entry time chooses the key, so it is checked against iat first (CLOCK_SKEW)', async () => {
    const c = await makeChain();
    const r = await signReading(c.device, sensorClaims(c, 1, { iat: NOW }));
    const filler = await createRevocation(c.agency, c.deviceCert, { reason: 'decommissioned', revokedFrom: NOW + DAY, iat: NOW - 31 * DAY });
    const b = await bundleFor([entryOf(1, r, c.deviceCert.certRef, (T1 - 1) * 1000), entryOf(4, filler, c.agencyCert.certRef, (T1 - 1) * 1000)], 0, {
      certificates: [c.deviceCert.bytes, c.agencyCert.bytes], signer: K1, timeMs: (T1 - 1) * 1000, unbound: true,
    });
    const v = verifyBundle(b, trustOf(c, rotated));
    expect(get(v, 'checkpoint').message).not.toMatch(/binds block/);
    expectInvalid(v, [['checkpoint', 'CLOCK_SKEW']]);
    // the same layout, honestly timed and signed by the current key, verifies unbound
    const honest = await bundleFor([entryOf(1, r, c.deviceCert.certRef), entryOf(4, filler, c.agencyCert.certRef)], 0, {
      certificates: [c.deviceCert.bytes, c.agencyCert.bytes], signer: K2, unbound: true,
    });
    const ok = verifyBundle(honest, trustOf(c, rotated));
    expect(fails(ok)).toEqual([]);
    expect(get(ok, 'checkpoint').message).toMatch(/later than block 0/);
  });

  it('the skew allowance: iat up to receivedAt + 300 s passes, one more second fails; the option widens it', async () => {
    const c = await makeChain();
    const received = Math.floor(RECEIVED_MS / 1000);
    expect((await readingBundle(c, { iat: received + DEFAULT_MAX_SKEW_SECONDS })).valid).toBe(true);
    const over = await readingBundle(c, { iat: received + DEFAULT_MAX_SKEW_SECONDS + 1 });
    expectInvalid(over, [['checkpoint', 'CLOCK_SKEW']]);
    expect(get(over, 'checkpoint').message).toMatch(/301 s after the log received it/);
    expect((await readingBundle(c, { iat: received + DEFAULT_MAX_SKEW_SECONDS + 1 }, { maxClockSkewSeconds: 600 })).valid).toBe(true);
  });

  it("the trust file's clockSkewSeconds sets the allowance (the gateway publishes it in GET /v1/trust); the option overrides it", async () => {
    const c = await makeChain();
    const received = Math.floor(RECEIVED_MS / 1000);
    const r = await signReading(c.device, sensorClaims(c, 1, { iat: received + 600 }));
    const b = await bundleFor([entryOf(1, r, c.deviceCert.certRef, RECEIVED_MS)], 0, { certificates: [c.deviceCert.bytes, c.agencyCert.bytes], signer: K2 });
    const trust = (extra: Record<string, unknown>) =>
      parseTrust({ roots: [{ certificate: toBase64(c.rootCert.bytes) }], checkpointKeys: rotated, origin: ORIGIN, ...extra });
    expectInvalid(verifyBundle(b, trust({})), [['checkpoint', 'CLOCK_SKEW']]);
    expect(trust({ clockSkewSeconds: 900 }).clockSkewSeconds).toBe(900);
    expect(verifyBundle(b, trust({ clockSkewSeconds: 900 })).valid).toBe(true);
    expectInvalid(verifyBundle(b, trust({ clockSkewSeconds: 900 }), { maxClockSkewSeconds: 300 }), [['checkpoint', 'CLOCK_SKEW']]);
    for (const bad of [0, 86_401, 1.5, '900', null]) expect(await codeOf(() => trust({ clockSkewSeconds: bad }))).toBe('MALFORMED');
  });

  it('readings may be much older than their log time (kept while offline): no age bound', async () => {
    const c = await makeChain();
    const v = await readingBundle(c, { iat: NOW - DAY + 10 }); // as old as the device certificate allows
    expect(fails(v)).toEqual([]);
    expect(v.valid).toBe(true);
  });

  it('with no trusted checkpoint, an entry changed under its proof still fails inclusion (INCLUSION_INVALID)', async () => {
    const c = await makeChain();
    const r = await signReading(c.device, sensorClaims(c, 1, { iat: NOW }));
    const b = await bundleFor([entryOf(1, r, c.deviceCert.certRef)], 0, { certificates: [c.deviceCert.bytes, c.agencyCert.bytes], timeMs: RECEIVED_MS - 1 });
    const v = verifyBundle(b, trustOf(c, [{ key: vkey(K1) }]));
    expect(get(v, 'checkpoint')).toMatchObject({ status: 'fail', code: 'CHECKPOINT_INVALID' });
    expect(get(v, 'inclusion').status).toBe('skip');
    const changed = verifyBundle({ ...b, entry: encodeLogEntry({ ...entryOf(1, r, c.deviceCert.certRef, RECEIVED_MS + 1), index: 0 }) }, trustOf(c, [{ key: vkey(K1) }]));
    expect(get(changed, 'inclusion')).toMatchObject({ status: 'fail', code: 'INCLUSION_INVALID' });
    expect(changed.valid).toBe(false);
  });
});
