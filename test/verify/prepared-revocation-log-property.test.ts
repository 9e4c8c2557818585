/**
 * Property: a revocation list prepared once (prepareRevocationLog, protocol/verify-revocation-log.ts), whose verdicts
 * weigh only the statements the bundle's certificates could be concerned by, gives the verdicts of the raw list
 * (`verify --revocation-log`, every statement weighed), deep-equal: random lists drawn from statements about the
 * reading's device and agency (revoked before or after the reading, keyCompromise of another certificate of either
 * key, by another agency after a transfer, by an untrusted root), other devices, and bytes that do not decode; with
 * or without the certificates beside them; random statements and certificates of the verifier's own; two bundles
 * against one preparation. Pure protocol, fast-check.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  commitRevocations, createRevocation, decodeCertificate, deviceIdFromKey, deviceIdToHex, issueCertificate, prepareRevocationLog, revocationsExtension,
  signCheckpoint, verifyBundle, type DecodedCertificate, type LoggedRevocation, type RevocationReason, type Signer,
} from '../../protocol/index.js';
import { referenceRoot } from '../../protocol/merkle/reference.js';
import type { RevocationCertificates } from '../../protocol/revocation-listing.js';
import { createNodeVerifier } from '../../gateway/crypto/node-verifier.js';
import { ALG_EDDSA, ALG_ES256, DAY, FIRMWARE, NOW, kidOf, pubOf, signerFor } from '../protocol/fixtures.js';
import { CP, ORIGIN, c, make, readingEntry, trustWith } from './bundle-fixtures.js';

const verifier = createNodeVerifier();
const profile = { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE };
const certOf = async (issuer: Signer, iss: string, sub: string, holder: Signer, role: 'agency' | 'device', iat: number): Promise<DecodedCertificate> =>
  decodeCertificate(await issueCertificate(issuer, kidOf(issuer), { iss, sub, role, holderKey: pubOf(holder), iat, nbf: iat, exp: NOW + 365 * DAY, ...(role === 'device' ? { profile } : {}) }));
const revoke = (issuer: Signer, cert: DecodedCertificate, revokedFrom: number, reason: RevocationReason) => createRevocation(issuer, cert, { reason, revokedFrom, iat: NOW - 10 });

// Statements a list may hold, each with the certificates the log's list carries beside it.
type Candidate = { statement: Uint8Array } & RevocationCertificates;
const candidates: Candidate[] = [];
const ownStatements: Uint8Array[] = [];
const ownCertificates: Uint8Array[] = [];
{
  const earlierDevice = await certOf(c.agency, 'psb.example', c.deviceIdHex, c.device, 'device', NOW - 3 * DAY);
  const earlierAgency = await certOf(c.root, 'root.example', 'psb.example', c.agency, 'agency', NOW - 3 * DAY);
  const laterAgency = await certOf(c.root, 'root.example', 'psb.example', c.agency, 'agency', NOW - DAY / 2);
  const otherAgency = signerFor(ALG_ES256, 'other-agency');
  const otherAgencyCert = await certOf(c.root, 'root.example', 'other.example', otherAgency, 'agency', NOW - 5 * DAY);
  const transferred = await certOf(otherAgency, 'other.example', c.deviceIdHex, c.device, 'device', NOW - 4 * DAY);
  const untrusted = signerFor(ALG_EDDSA, 'untrusted-root');
  const untrustedAgency = await certOf(untrusted, 'root.example', 'psb.example', c.agency, 'agency', NOW - 2 * DAY);
  const others = await Promise.all([1, 2, 3].map(async (i) => {
    const d = signerFor(ALG_EDDSA, `other-device-${i}`);
    return certOf(c.agency, 'psb.example', deviceIdToHex(deviceIdFromKey(pubOf(d))), d, 'device', NOW - DAY);
  }));
  const add = async (statement: Promise<Uint8Array>, beside: RevocationCertificates = {}) => candidates.push({ statement: await statement, ...beside });
  await add(revoke(c.agency, c.deviceCert, NOW - 60, 'decommissioned'));
  await add(revoke(c.agency, c.deviceCert, NOW + 60, 'decommissioned'));
  await add(revoke(c.agency, c.deviceCert, NOW + 60, 'keyCompromise'));
  await add(revoke(c.root, c.agencyCert, NOW - 60, 'cessationOfOperation'), { certificate: c.agencyCert.bytes });
  await add(revoke(c.root, c.agencyCert, NOW + 60, 'affiliationChanged'), { certificate: c.agencyCert.bytes });
  await add(revoke(c.agency, earlierDevice, NOW - 60, 'keyCompromise'), { certificate: earlierDevice.bytes, issuer: c.agencyCert.bytes });
  await add(revoke(c.agency, earlierDevice, NOW + 60, 'keyCompromise'));
  await add(revoke(c.root, earlierAgency, NOW - 60, 'keyCompromise'), { certificate: earlierAgency.bytes });
  await add(revoke(c.root, earlierAgency, NOW - 60, 'superseded'));
  await add(revoke(c.root, laterAgency, NOW - 60, 'cessationOfOperation'), { certificate: laterAgency.bytes });
  await add(revoke(c.root, laterAgency, NOW - 60, 'keyCompromise'));
  await add(revoke(otherAgency, transferred, NOW - 60, 'keyCompromise'), { certificate: transferred.bytes, issuer: otherAgencyCert.bytes });
  await add(revoke(otherAgency, transferred, NOW - 60, 'keyCompromise'));
  await add(revoke(untrusted, untrustedAgency, NOW - 60, 'keyCompromise'), { certificate: untrustedAgency.bytes });
  for (const o of others) await add(revoke(c.agency, o, NOW - 60, 'decommissioned'));
  candidates.push({ statement: new Uint8Array([0xd2, 0x84, 0x40]) }, { statement: new Uint8Array([0x01]) });
  ownStatements.push(candidates[0]!.statement, candidates[5]!.statement, candidates[12]!.statement, candidates[17]!.statement);
  ownCertificates.push(earlierDevice.bytes, laterAgency.bytes, otherAgencyCert.bytes, transferred.bytes);
}

const SIZE = 40; // the bundle's log: the reading at 0, the list's entries among 1..39
const entries = [await readingEntry(), ...Array.from({ length: SIZE - 1 }, (_, i) => new Uint8Array([0x40 + (i % 20), i]))];
const trust = trustWith();

describe('prepared revocation lists: property', () => {
  test('the prepared path and the raw input give deep-equal verdicts over random lists and bundles', async () => {
    const whole = await make({ entries });
    const earlier = await make({ entries, treeSize: SIZE - 5 });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ pick: fc.nat(candidates.length - 1), index: fc.integer({ min: 1, max: SIZE - 1 }), beside: fc.boolean() }), { selector: (e) => e.index, maxLength: 12 }),
        fc.subarray(ownStatements),
        fc.subarray(ownCertificates),
        fc.boolean(),
        fc.integer({ min: -1, max: 1 }),
        async (picks, ownRevocations, ownCerts, sameRoot, sizeDelta) => {
          const revocations: (LoggedRevocation & RevocationCertificates)[] = picks.map(({ pick, index, beside }) => {
            const { statement, ...certs } = candidates[pick]!;
            return { index, statement, ...(beside ? certs : {}) };
          });
          const size = SIZE + sizeDelta; // the list's checkpoint: the bundle's size, or one off (not linked)
          const root = sameRoot ? referenceRoot(entries.slice(0, size)) : new Uint8Array(32).fill(3);
          const log = {
            checkpoint: await signCheckpoint({ origin: ORIGIN, size, root, extensions: [revocationsExtension(commitRevocations([...revocations].sort((a, b) => a.index - b.index)))] }, CP),
            revocations,
          };
          const opts = { verifier, now: NOW + 100, revocations: ownRevocations, certificates: ownCerts };
          const prepared = prepareRevocationLog(log, trust, opts.now, { verifier });
          for (const b of [whole, earlier]) {
            expect(verifyBundle(b, trust, { ...opts, revocationLog: prepared })).toEqual(verifyBundle(b, trust, { ...opts, revocationLog: log }));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
