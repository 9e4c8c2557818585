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
 *   consistency  optionally, against an older (or newer) trusted checkpoint: the log only grew (RFC 9162 §2.1.4);
 *                the proof comes from `since.proof` or from the bundle's own consistency field (key 9)
 * Every byte of a bundle is covered: unused certificates or revocations that name neither the device nor its
 * agency are rejected (nothing unverifiable rides along), and each bundle revocation's signature is checked.
 * Checkpoint keys are chosen by time: for the checkpoint that binds the entry's block, keys valid at the block
 * time (header timeMs, bound by the extension line); for a later checkpoint, keys not expired at the entry time;
 * for the verifier's own `since` checkpoint, keys whose window has begun by `now` (it may predate a rotation).
 * Pure: runs in browsers (pass nothing node-specific; `verifier` defaults to @noble/curves and is also used
 * for the Ed25519 checkpoint signatures).
 */
import { ALG_EDDSA, type SignatureVerifier } from './algorithms.js';
import { bytesEqual, toBase64, toHex } from './bytes.js';
import { decodeBlockHeader, decodeProofBundle, type BlockHeader, type ProofBundle } from './bundle.js';
import { decodeCertificate, type DecodedCertificate } from './certificate.js';
import { validateChain } from './chain.js';
import { openCheckpoint, type Checkpoint, type Ed25519Verify, type NoteVerifier } from './checkpoint.js';
import { verifySign1 } from './cose-sign1.js';
import { deviceIdMatchesKey } from './device-id.js';
import { OriginProofError, fail, type ErrorCode } from './errors.js';
import { sha256 } from './hash.js';
import { decodeLogEntry, ENTRY_READING, leafHash, type LogEntry } from './log-entry.js';
import { verifyConsistency, verifyInclusion } from './merkle/index.js';
import { BIOMETRIC_READING_TYPE } from './biometric.js';
import { openReading, type OpenedReading } from './reading.js';
import { namesCertificate } from './certificate-refs.js';
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
  /** The trust anchor (root) the chain ended at, when the chain check passed. */
  root?: string;
  seq?: number;
  iat?: number;
  body?: unknown;
}

export interface Verdict {
  valid: boolean;
  checks: Check[];
  record?: VerdictRecord;
  /** The checkpoint the entry was proven against (trusted only if the checkpoint check passed). */
  checkpoint?: { origin: string; size: number; root: string; signedBy: string[] };
}

export interface VerifyBundleOptions {
  verifier?: SignatureVerifier;
  /** Extra revocation statements the verifier holds (e.g. an agency's published list). */
  revocations?: readonly Uint8Array[];
  /**
   * A checkpoint the verifier already trusts, and the consistency proof between it and the bundle's
   * (default: the bundle's consistency field, which must start at the `since` checkpoint's size).
   */
  since?: { checkpoint: string; proof?: readonly Uint8Array[] };
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

/** Keys of the trust material whose validity window intersects [from, to] (seconds; `to` undefined = open). */
function keysDuring(trust: TrustMaterial, from: number, to?: number): NoteVerifier[] {
  return trust.checkpointKeys
    .filter((k) => (k.notAfter === undefined || k.notAfter > from) && (to === undefined || k.notBefore === undefined || k.notBefore <= to))
    .map((k) => k.verifier);
}

export function verifyBundle(bundle: ProofBundle, trust: TrustMaterial, opts: VerifyBundleOptions = {}): Verdict {
  const checks = new Map<CheckName, Check>();
  const v = opts.verifier ? { verifier: opts.verifier } : {};
  const ed: Ed25519Verify | undefined = opts.verifier ? ((sig, msg, pub) => opts.verifier!(ALG_EDDSA, pub, msg, sig)) : undefined;
  const nowS = opts.now ?? Math.floor(Date.now() / 1000);
  const cpOpts = { ...(trust.origin ? { origin: trust.origin } : {}), ...(ed ? { verify: ed } : {}) };
  let entry: LogEntry | undefined;
  let opened: OpenedReading | undefined;
  let cp: (Checkpoint & { verified: string[] }) | undefined;
  let header: BlockHeader | undefined;
  let rootName: string | undefined;

  // The entry itself: decodes, sits at the bundle's index.
  const entryCheck = run('claims', () => {
    const e = decodeLogEntry(bundle.entry);
    if (e.index !== bundle.index) fail('INCLUSION_INVALID', `entry says index ${e.index}, bundle says ${bundle.index}`, 'index');
    entry = e;
    return 'entry decodes';
  });

  // Checkpoint and block header (needed for inclusion). `cp` is set only once the whole check passed.
  checks.set(
    'checkpoint',
    run('checkpoint', () => {
      header = decodeBlockHeader(bundle.blockHeader);
      const h = header;
      if (bundle.index < h.firstIndex || bundle.index > h.lastIndex) fail('CHECKPOINT_INVALID', `block ${h.height} does not hold entry ${bundle.index}`, 'blockHeader');
      if (h.treeSize > bundle.treeSize) fail('CHECKPOINT_INVALID', `block ${h.height} (tree size ${h.treeSize}) is newer than the checkpoint (tree size ${bundle.treeSize})`, 'blockHeader');
      const bound = h.treeSize === bundle.treeSize;
      const entryTime = entry ? Math.floor(entry.receivedAtMs / 1000) : nowS;
      const keys = bound ? checkpointKeysAt(trust, Math.floor(h.timeMs / 1000)) : keysDuring(trust, entryTime);
      if (keys.length === 0) {
        fail('CHECKPOINT_INVALID', bound ? `the trust material has no checkpoint key valid at the block time ${Math.floor(h.timeMs / 1000)}` : `the trust material has no checkpoint key valid after the entry time ${entryTime}`, 'trust.checkpointKeys');
      }
      const c = openCheckpoint(bundle.checkpoint, keys, cpOpts);
      if (c.size !== bundle.treeSize) fail('CHECKPOINT_INVALID', `checkpoint is for tree size ${c.size}, bundle says ${bundle.treeSize}`, 'treeSize');
      let message: string;
      if (bound) {
        if (!bytesEqual(h.root, c.root)) fail('CHECKPOINT_INVALID', 'block header root is not the checkpoint root', 'blockHeader.root');
        if (!c.extensions.includes(blockExtension(h.height, bundle.blockHeader))) fail('CHECKPOINT_INVALID', 'the checkpoint does not bind this block header', 'blockHeader');
        message = `signed by ${c.verified.join(', ')}; tree size ${c.size}; binds block ${h.height}`;
      } else {
        message = `signed by ${c.verified.join(', ')}; tree size ${c.size} (later than block ${h.height}, whose header it does not bind)`;
      }
      cp = c;
      return message;
    }),
  );

  checks.set(
    'inclusion',
    entryCheck.status === 'fail'
      ? { ...entryCheck, name: 'inclusion' }
      : cp
        ? run('inclusion', () => {
            verifyInclusion(bundle.index, bundle.treeSize, leafHash(bundle.entry), bundle.inclusionProof, cp!.root);
            return `entry ${bundle.index} is in the tree of size ${bundle.treeSize} (${bundle.inclusionProof.length} proof hashes)`;
          })
        : skip('inclusion', 'no trusted checkpoint to prove against'),
  );

  let agency: DecodedCertificate | undefined;
  if (entry && entry.type === ENTRY_READING) {
    const claims = run('claims', () => {
      opened = openReading(entry!.payload, { maxBytes: Number.MAX_SAFE_INTEGER });
      return `reading ${opened.claims.seq} of device ${toHex(opened.claims.deviceId)} is well formed; no raw biometric data`;
    });
    let device: DecodedCertificate | undefined;
    const certs = run('chain', () => {
      const decoded = bundle.certificates.map((c) => decodeCertificate(c));
      if (!opened) fail('CLAIM_INVALID', 'cannot check the chain of a malformed reading', 'entry');
      device = decoded.find((c) => bytesEqual(c.holderKid, opened!.kid));
      if (!device) fail('UNKNOWN_KEY', 'the bundle has no certificate for the key that signed the reading', 'certificates');
      if (!entry!.certRef || !bytesEqual(entry!.certRef, device.certRef)) fail('CHAIN_INVALID', 'the entry was admitted against another certificate', 'entry.certRef');
      agency = decoded.find((c) => bytesEqual(c.holderKid, device!.issuerKid));
      if (!agency) fail('CHAIN_INVALID', "the bundle has no certificate for the device's agency", 'certificates');
      // Nothing unverified rides along: every other certificate must be a trusted root's own.
      decoded.forEach((c, i) => {
        if (c === device || c === agency) return;
        const anchor = c.claims.role === 'root' ? trust.anchors.byKid.get(toHex(c.holderKid)) : undefined;
        if (!anchor) fail('CHAIN_INVALID', `certificate ${i} (${c.claims.sub}) is not part of the reading's chain`, `certificates[${i}]`);
        verifySign1(c.sign1, anchor.key, v);
      });
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
          rootName = chain.anchor.name;
          return `${d.claims.sub} <- ${a.claims.sub} <- ${chain.anchor.name}, valid at ${r.claims.iat}`;
        }),
      );
      checks.set(
        'revocation',
        run('revocation', () => {
          const verified: DecodedRevocation[] = [];
          const check = (bytes: Uint8Array, path: string, fromBundle: boolean): void => {
            let rev: DecodedRevocation;
            try {
              rev = decodeRevocation(bytes);
            } catch (err) {
              if (err instanceof OriginProofError) fail(err.code, err.message, path);
              throw err;
            }
            if (namesCertificate(rev.claims.certRef, d)) verified.push(verifyRevocation(rev, d, a.holderKey, v));
            else if (namesCertificate(rev.claims.certRef, a)) {
              const anchor = trust.anchors.byKid.get(toHex(a.issuerKid));
              if (!anchor) fail('UNKNOWN_KEY', 'cannot check a revocation of the agency: its root is not trusted', path);
              verified.push(verifyRevocation(rev, a, anchor.key, v));
            } else if (fromBundle) {
              // A bundle carries only the revocations of its own chain; anything else is unverifiable baggage.
              fail('CLAIM_INVALID', `bundle revocation of ${rev.claims.sub} names neither the device nor its agency`, path);
            }
          };
          bundle.revocations.forEach((b, i) => check(b, `revocations[${i}]`, true));
          (opts.revocations ?? []).forEach((b, i) => check(b, `verifier revocations[${i}]`, false));
          assertNotRevokedAt(d, verified, r.claims.iat, 'device');
          assertNotRevokedAt(a, verified, r.claims.iat, 'agency');
          return verified.length === 0 ? 'no revocation covers the device or its agency' : `${verified.length} revocation(s) known; none covers time ${r.claims.iat}`;
        }),
      );
      checks.set(
        'claims',
        claims.status === 'fail'
          ? claims
          : run('claims', () => {
              const profile = d.claims.profile;
              if (d.claims.role !== 'device' || !profile) fail('ROLE_VIOLATION', 'the signing certificate is not a device certificate', 'certificate');
              const type = r.claims.body.kind === 'sensor' ? r.claims.body.type : BIOMETRIC_READING_TYPE;
              if (!profile.readingTypes.includes(type)) fail('TYPE_NOT_ALLOWED', `reading type ${type} is not in the device profile`, 'claims.body.type');
              if (!bytesEqual(r.claims.firmware, profile.firmware)) fail('FIRMWARE_MISMATCH', 'firmware measurement differs from the certified one', 'claims.fwm');
              return claims.message + `; type ${type} allowed; firmware as certified`;
            }),
      );
    }
  } else {
    const why = entry ? `entry ${bundle.index} is a registry event, not a reading` : `the entry does not check out (${entryCheck.message})`;
    checks.set('signature', skip('signature', why));
    checks.set('chain', skip('chain', why));
    checks.set('revocation', skip('revocation', why));
    checks.set('claims', entryCheck.status === 'fail' ? entryCheck : skip('claims', why));
    if (entry && (bundle.certificates.length > 0 || bundle.revocations.length > 0)) {
      checks.set('chain', { name: 'chain', status: 'fail', code: 'CHAIN_INVALID', message: `a bundle for a registry event carries no certificates or revocations (${why})` });
    }
  }

  checks.set(
    'consistency',
    opts.since
      ? consistencyCheck(opts.since, bundle, cp, trust, nowS, cpOpts)
      : skip('consistency', bundle.consistency ? `the bundle carries a consistency proof from tree size ${bundle.consistency.fromSize}; give the checkpoint you trust at that size to check it` : 'no earlier checkpoint given'),
  );

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
      if (agency) rec.agency = agency.claims.sub;
      if (rootName !== undefined) rec.root = rootName;
    }
  }
  if (cp) verdict.checkpoint = { origin: cp.origin, size: cp.size, root: toBase64(cp.root), signedBy: cp.verified };
  return verdict;
}

function consistencyCheck(
  since: { checkpoint: string; proof?: readonly Uint8Array[] }, bundle: ProofBundle, cp: Checkpoint | undefined, trust: TrustMaterial, now: number,
  cpOpts: { origin?: string; verify?: Ed25519Verify },
): Check {
  if (!cp) return skip('consistency', 'no trusted checkpoint in the bundle to compare with');
  return run('consistency', () => {
    // The verifier's own checkpoint: any trusted key whose window has begun (it may predate a key rotation).
    const keys = trust.checkpointKeys.filter((k) => k.notBefore === undefined || k.notBefore <= now).map((k) => k.verifier);
    if (keys.length === 0) fail('CHECKPOINT_INVALID', `the trust material has no checkpoint key valid by ${now}`, 'trust.checkpointKeys');
    const old = openCheckpoint(since.checkpoint, keys, cpOpts);
    if (old.origin !== cp.origin) fail('CONSISTENCY_INVALID', `checkpoints of different logs (${old.origin}, ${cp.origin})`, 'since.origin');
    let proof = since.proof;
    if (!proof) {
      const c = bundle.consistency;
      if (old.size === cp.size) proof = [];
      else if (!c) fail('CONSISTENCY_INVALID', `no consistency proof between tree sizes ${old.size} and ${cp.size} (the bundle carries none)`, 'consistency');
      else if (c.fromSize !== old.size) fail('CONSISTENCY_INVALID', `the bundle's consistency proof starts at tree size ${c.fromSize}, your checkpoint is at ${old.size}`, 'consistency.fromSize');
      else proof = c.proof;
    }
    const [small, large] = old.size <= cp.size ? [old, cp] : [cp, old];
    try {
      verifyConsistency(small.size, large.size, proof!, small.root, large.root);
    } catch (err) {
      if (err instanceof OriginProofError && err.code === 'CONSISTENCY_INVALID') {
        fail('CONSISTENCY_INVALID', `the log of size ${large.size} does not extend the log of size ${small.size} (${err.message}): rewritten or forked`, err.path);
      }
      throw err;
    }
    return `the log of size ${small.size} is a prefix of the log of size ${large.size}`;
  });
}
