/**
 * The offline verifier: one entry point taking a proof bundle's bytes and the trust material, nothing else.
 * It answers a verdict with every check, its result and, on failure, the error code and a plain sentence:
 *   signature    the reading's COSE_Sign1 against the device key in its certificate (RFC 9052 §4.4)
 *   chain        device -> agency -> root: links, roles, algorithms and validity at the reading's time
 *   revocation   no revocation (in the bundle or given by the verifier) covers the reading's time
 *   claims       the reading's claims are well formed, the biometric privacy rule holds, type and firmware match
 *   inclusion    the entry's leaf hash and its RFC 9162 inclusion proof lead to the checkpoint's root
 *   checkpoint   the checkpoint is signed by a trusted gateway key, names the bundle's tree size, and binds
 *                the block header (extension line `block <height> <base64 SHA-256(header)>`)
 *   consistency  optionally, against an older (or newer) trusted checkpoint: the log only grew (RFC 9162 §2.1.4)
 * Pure: runs in browsers (pass nothing node-specific; `verifier` defaults to @noble/curves).
 */
import type { SignatureVerifier } from './algorithms.js';
import { bytesEqual, toBase64, toHex } from './bytes.js';
import { decodeBlockHeader, decodeProofBundle, type BlockHeader, type ProofBundle } from './bundle.js';
import { decodeCertificate, type DecodedCertificate } from './certificate.js';
import { validateChain } from './chain.js';
import { openCheckpoint, type Checkpoint } from './checkpoint.js';
import { verifySign1 } from './cose-sign1.js';
import { deviceIdMatchesKey } from './device-id.js';
import { OriginProofError, fail, type ErrorCode } from './errors.js';
import { sha256 } from './hash.js';
import { decodeLogEntry, ENTRY_READING, leafHash, type LogEntry } from './log-entry.js';
import { verifyConsistency, verifyInclusion } from './merkle/index.js';
import { BIOMETRIC_READING_TYPE } from './biometric.js';
import { openReading, type OpenedReading } from './reading.js';
import { assertNotRevokedAt, decodeRevocation, verifyRevocation, type DecodedRevocation } from './revocation.js';
import { checkpointKeysAt, type TrustMaterial } from './trust.js';

export const CHECK_NAMES = ['signature', 'chain', 'revocation', 'claims', 'inclusion', 'checkpoint', 'consistency'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface Check {
  name: CheckName;
  status: 'pass' | 'fail' | 'skip';
  code?: ErrorCode;
  message: string;
}

export interface VerdictRecord {
  index: number;
  treeSize: number;
  entryType: number;
  receivedAtMs: number;
  deviceId?: string;
  agency?: string;
  seq?: number;
  iat?: number;
  body?: unknown;
}

export interface Verdict {
  valid: boolean;
  checks: Check[];
  record?: VerdictRecord;
  /** The checkpoint the entry was proven against (trusted only if the checkpoint check passed). */
  checkpoint?: { origin: string; size: number; root: string };
}

export interface VerifyBundleOptions {
  verifier?: SignatureVerifier;
  /** Extra revocation statements the verifier holds (e.g. an agency's published list). */
  revocations?: readonly Uint8Array[];
  /** A checkpoint the verifier already trusts, and the consistency proof between it and the bundle's. */
  since?: { checkpoint: string; proof: readonly Uint8Array[] };
  /** Verifier clock (seconds), for checkpoint keys of the `since` checkpoint. Default: now. */
  now?: number;
}

/** A block header is bound to its checkpoint by this extension line (ledger/ledger.ts writes it). */
export function blockExtension(height: number, headerBytes: Uint8Array): string {
  return `block ${height} ${toBase64(sha256(headerBytes))}`;
}

function run(name: CheckName, fn: () => string): Check {
  try {
    return { name, status: 'pass', message: fn() };
  } catch (err) {
    if (err instanceof OriginProofError) return { name, status: 'fail', code: err.code, message: err.message + (err.path ? ` (at ${err.path})` : '') };
    return { name, status: 'fail', code: 'MALFORMED', message: (err as Error).message };
  }
}

const skip = (name: CheckName, message: string): Check => ({ name, status: 'skip', message });

/** Decode the bundle; a bundle that does not decode is unusable input (the CLI exits 2). */
export function verifyBundleBytes(bytes: Uint8Array, trust: TrustMaterial, opts: VerifyBundleOptions = {}): Verdict {
  return verifyBundle(decodeProofBundle(bytes), trust, opts);
}

export function verifyBundle(bundle: ProofBundle, trust: TrustMaterial, opts: VerifyBundleOptions = {}): Verdict {
  const checks = new Map<CheckName, Check>();
  const v = opts.verifier ? { verifier: opts.verifier } : {};
  let entry: LogEntry | undefined;
  let opened: OpenedReading | undefined;
  let cp: Checkpoint | undefined;
  let header: BlockHeader | undefined;

  // The entry itself: decodes, sits at the bundle's index.
  const entryCheck = run('claims', () => {
    entry = decodeLogEntry(bundle.entry);
    if (entry.index !== bundle.index) fail('INCLUSION_INVALID', `entry says index ${entry.index}, bundle says ${bundle.index}`, 'index');
    return 'entry decodes';
  });

  // Checkpoint and block header (needed for inclusion).
  checks.set(
    'checkpoint',
    run('checkpoint', () => {
      const at = entry ? Math.floor(entry.receivedAtMs / 1000) : Math.floor(Date.now() / 1000);
      const keys = checkpointKeysAt(trust, at);
      if (keys.length === 0) fail('CHECKPOINT_INVALID', 'the trust material has no checkpoint key valid at the entry time', 'trust.checkpointKeys');
      const opened = openCheckpoint(bundle.checkpoint, keys, trust.origin ? { origin: trust.origin } : {});
      cp = opened;
      if (opened.size !== bundle.treeSize) fail('CHECKPOINT_INVALID', `checkpoint is for tree size ${opened.size}, bundle says ${bundle.treeSize}`, 'treeSize');
      header = decodeBlockHeader(bundle.blockHeader);
      if (bundle.index < header.firstIndex || bundle.index > header.lastIndex) fail('CHECKPOINT_INVALID', `block ${header.height} does not hold entry ${bundle.index}`, 'blockHeader');
      if (header.treeSize === opened.size) {
        if (!bytesEqual(header.root, opened.root)) fail('CHECKPOINT_INVALID', 'block header root is not the checkpoint root', 'blockHeader.root');
        const ext = blockExtension(header.height, bundle.blockHeader);
        if (!opened.extensions.includes(ext)) fail('CHECKPOINT_INVALID', 'the checkpoint does not bind this block header', 'blockHeader');
        return `signed by ${opened.verified.join(', ')}; tree size ${opened.size}; binds block ${header.height}`;
      }
      if (header.treeSize > opened.size) fail('CHECKPOINT_INVALID', 'block header is newer than the checkpoint', 'blockHeader');
      return `signed by ${opened.verified.join(', ')}; tree size ${opened.size} (later than block ${header.height}, whose header it does not bind)`;
    }),
  );

  checks.set(
    'inclusion',
    cp && entryCheck.status === 'pass'
      ? run('inclusion', () => {
          verifyInclusion(bundle.index, bundle.treeSize, leafHash(bundle.entry), bundle.inclusionProof, cp!.root);
          return `entry ${bundle.index} is in the tree of size ${bundle.treeSize} (${bundle.inclusionProof.length} proof hashes)`;
        })
      : entryCheck.status === 'fail'
        ? { ...entryCheck, name: 'inclusion' }
        : skip('inclusion', 'no trusted checkpoint to prove against'),
  );

  if (entry && entry.type === ENTRY_READING) {
    const claims = run('claims', () => {
      opened = openReading(entry!.payload, { maxBytes: Number.MAX_SAFE_INTEGER });
      return `reading ${opened.claims.seq} of device ${toHex(opened.claims.deviceId)} is well formed; no raw biometric data`;
    });
    let device: DecodedCertificate | undefined;
    let agency: DecodedCertificate | undefined;
    const certs = run('chain', () => {
      const decoded = bundle.certificates.map((c) => decodeCertificate(c));
      if (!opened) fail('CLAIM_INVALID', 'cannot check the chain of a malformed reading', 'entry');
      device = decoded.find((c) => bytesEqual(c.holderKid, opened!.kid));
      if (!device) fail('UNKNOWN_KEY', 'the bundle has no certificate for the key that signed the reading', 'certificates');
      if (!entry!.certRef || !bytesEqual(entry!.certRef, device.certRef)) fail('CHAIN_INVALID', 'the entry was admitted against another certificate', 'entry.certRef');
      agency = decoded.find((c) => bytesEqual(c.holderKid, device!.issuerKid));
      if (!agency) fail('CHAIN_INVALID', "the bundle has no certificate for the device's agency", 'certificates');
      return 'certificates decode';
    });
    if (!opened) {
      checks.set('signature', skip('signature', 'the reading does not decode'));
      checks.set('chain', skip('chain', 'the reading does not decode'));
      checks.set('revocation', skip('revocation', 'the reading does not decode'));
      checks.set('claims', claims);
    } else if (certs.status === 'fail') {
      checks.set('signature', skip('signature', 'no device certificate to check against'));
      checks.set('chain', certs);
      checks.set('revocation', skip('revocation', 'no certificate chain'));
      checks.set('claims', claims);
    } else {
      const r = opened;
      const d = device!;
      const a = agency!;
      checks.set(
        'signature',
        run('signature', () => {
          if (!deviceIdMatchesKey(r.claims.deviceId, d.holderKey)) fail('CLAIM_INVALID', 'ueid is not the device id of the certified key', 'claims.ueid');
          verifySign1(r.sign1, d.holderKey, v);
          return `COSE_Sign1 verifies with the key of device ${d.claims.sub}`;
        }),
      );
      checks.set(
        'chain',
        run('chain', () => {
          const chain = validateChain([d, a], trust.anchors, r.claims.iat, v);
          return `${d.claims.sub} <- ${a.claims.sub} <- ${chain.anchor.name}, valid at ${r.claims.iat}`;
        }),
      );
      checks.set(
        'revocation',
        run('revocation', () => {
          const all = [...bundle.revocations, ...(opts.revocations ?? [])];
          const verified: DecodedRevocation[] = [];
          for (const bytes of all) {
            const rev = decodeRevocation(bytes);
            if (bytesEqual(rev.claims.certRef, d.certRef)) verified.push(verifyRevocation(rev, d, a.holderKey, v));
            else if (bytesEqual(rev.claims.certRef, a.certRef)) {
              const anchor = trust.anchors.byKid.get(toHex(a.issuerKid));
              if (!anchor) fail('UNKNOWN_KEY', 'cannot check a revocation of the agency: its root is not trusted', 'revocations');
              verified.push(verifyRevocation(rev, a, anchor.key, v));
            }
          }
          assertNotRevokedAt(d.certRef, verified, r.claims.iat, 'device');
          assertNotRevokedAt(a.certRef, verified, r.claims.iat, 'agency');
          return verified.length === 0 ? 'no revocation covers the device or its agency' : `${verified.length} revocation(s) known; none covers time ${r.claims.iat}`;
        }),
      );
      checks.set(
        'claims',
        claims.status === 'fail'
          ? claims
          : run('claims', () => {
              const profile = d.claims.profile;
              if (!profile) fail('ROLE_VIOLATION', 'the signing certificate is not a device certificate', 'certificate');
              const type = r.claims.body.kind === 'sensor' ? r.claims.body.type : BIOMETRIC_READING_TYPE;
              if (!profile.readingTypes.includes(type)) fail('TYPE_NOT_ALLOWED', `reading type ${type} is not in the device profile`, 'claims.body.type');
              if (!bytesEqual(r.claims.firmware, profile.firmware)) fail('FIRMWARE_MISMATCH', 'firmware measurement differs from the certified one', 'claims.fwm');
              return claims.message + `; type ${type} allowed; firmware as certified`;
            }),
      );
    }
  } else {
    const why = entry ? `entry ${bundle.index} is a registry event, not a reading` : 'the entry does not decode';
    checks.set('signature', skip('signature', why));
    checks.set('chain', skip('chain', why));
    checks.set('revocation', skip('revocation', why));
    checks.set('claims', entryCheck.status === 'fail' ? entryCheck : skip('claims', why));
  }

  checks.set('consistency', opts.since ? consistencyCheck(opts.since, cp, trust, opts.now) : skip('consistency', 'no earlier checkpoint given'));

  const list = CHECK_NAMES.map((n) => checks.get(n)!);
  const verdict: Verdict = { valid: list.every((c) => c.status !== 'fail') && list.some((c) => c.name === 'inclusion' && c.status === 'pass'), checks: list };
  if (entry) {
    verdict.record = { index: entry.index, treeSize: bundle.treeSize, entryType: entry.type, receivedAtMs: entry.receivedAtMs };
    if (opened) {
      const rec = verdict.record;
      rec.deviceId = toHex(opened.claims.deviceId);
      rec.seq = opened.claims.seq;
      rec.iat = opened.claims.iat;
      rec.body = opened.claims.body.kind === 'biometric' ? { ...opened.claims.body, subjectCommitment: toHex(opened.claims.body.subjectCommitment) } : opened.claims.body;
      const agencyCert = bundle.certificates.map((c) => { try { return decodeCertificate(c); } catch { return undefined; } }).find((c) => c?.claims.role === 'agency');
      if (agencyCert) rec.agency = agencyCert.claims.sub;
    }
  }
  if (cp) verdict.checkpoint = { origin: cp.origin, size: cp.size, root: toBase64(cp.root) };
  return verdict;
}

function consistencyCheck(since: { checkpoint: string; proof: readonly Uint8Array[] }, cp: Checkpoint | undefined, trust: TrustMaterial, now?: number): Check {
  if (!cp) return skip('consistency', 'no trusted checkpoint in the bundle to compare with');
  return run('consistency', () => {
    const keys = checkpointKeysAt(trust, now ?? Math.floor(Date.now() / 1000));
    const old = openCheckpoint(since.checkpoint, keys.length > 0 ? keys : trust.checkpointKeys.map((k) => k.verifier), trust.origin ? { origin: trust.origin } : {});
    if (old.origin !== cp.origin) fail('CONSISTENCY_INVALID', `checkpoints of different logs (${old.origin}, ${cp.origin})`, 'since.origin');
    if (old.size <= cp.size) verifyConsistency(old.size, cp.size, since.proof, old.root, cp.root);
    else verifyConsistency(cp.size, old.size, since.proof, cp.root, old.root);
    return `the log of size ${Math.min(old.size, cp.size)} is a prefix of the log of size ${Math.max(old.size, cp.size)}`;
  });
}
