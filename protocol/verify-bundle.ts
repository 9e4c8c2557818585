/**
 * The offline verifier: one entry point taking a proof bundle's bytes and the trust material, nothing else.
 * It answers a verdict with every check, its result and, on failure, the error code and a plain sentence:
 *   signature    the reading's COSE_Sign1 against the device key in its certificate (RFC 9052 §4.4)
 *   chain        device -> agency -> root: links, roles, algorithms and validity at the reading's time
 *   revocation   no revocation (in the bundle or given by the verifier) covers the reading's time, and no
 *                keyCompromise revocation of another certificate of the device's or agency's key (key-compromise.ts)
 *   claims       the reading's claims are well formed, the biometric privacy rule holds, type and firmware match
 *   inclusion    the entry's leaf hash and its RFC 9162 inclusion proof lead to the checkpoint's root
 *   checkpoint   the checkpoint is signed by a trusted gateway key, names the bundle's tree size, and binds
 *                the block header (extension line `block <height> <base64 SHA-256(header)>`)
 *   consistency  optionally, against an older (or newer) trusted checkpoint: the log only grew (RFC 9162 §2.1.4);
 *                the proof comes from `since.proof` or from the bundle's own consistency field (key 9)
 * A reading's four payload checks are in verify-reading.ts. Registry events (agency and device registrations,
 * revocations) get the same four, at the entry's receivedAt (verify-registry-event.ts): an entry is valid only if
 * its payload is what the gateway had to check.
 * Every byte of a bundle is covered: certificates and revocations that no check uses are rejected (nothing
 * unverifiable rides along; another certificate of a chain key only with its keyCompromise revocation), and each
 * bundle certificate's and revocation's signature is checked.
 * What the revocation check cannot see: a revocation left out of the bundle (the bundle's producer chooses them and
 * they are not bound to the log). Completeness comes only from revocations the verifier brings: `revocationLog`, the
 * log's whole list proven by a checkpoint's revocations line (verify-revocation-log.ts), or `revocations`.
 * Times: the signed time (a reading's, revocation's or registered certificate's iat) <= the entry's receivedAt + the gateway's clock skew,
 * receivedAt <= the block's time <= the verifier's `now` + the skew; only then is a checkpoint key chosen by time,
 * and only among keys whose window has begun by `now`: for the checkpoint that binds the entry's block, keys valid
 * at the block time (header timeMs, bound by the extension line); for a later checkpoint, keys not expired at the
 * entry time; for the verifier's own `since` checkpoint, any (it may predate a rotation). So a retired key
 * (notAfter T) cannot vouch for what was signed after T + skew, however the log's times are set, and a next key
 * published ahead of its notBefore vouches for nothing before then, however the producer dates the block.
 * Readings may be much older than receivedAt (kept while offline).
 * Pure: runs in browsers (pass nothing node-specific; `verifier` defaults to @noble/curves and is also used
 * for the Ed25519 checkpoint signatures).
 */
import { ALG_EDDSA, type SignatureVerifier } from './algorithms.js';
import { bytesEqual, toBase64, toHex } from './bytes.js';
import { decodeBlockHeader, decodeProofBundle, type BlockHeader, type ProofBundle } from './bundle.js';
import type { DecodedCertificate } from './certificate.js';
import { openCheckpoint, parseCheckpoint, parseNote, type Checkpoint, type Ed25519Verify, type NoteVerifier } from './checkpoint.js';
import { OriginProofError, fail } from './errors.js';
import { sha256 } from './hash.js';
import { decodeLogEntry, ENTRY_READING, ENTRY_REVOCATION, leafHash, type LogEntry } from './log-entry.js';
import { verifyConsistency, verifyInclusion } from './merkle/index.js';
import { DEFAULT_MAX_SKEW_SECONDS, type OpenedReading } from './reading.js';
import { checkpointKeysForBlock, type TrustMaterial } from './trust.js';
import { CHECK_NAMES, run, skip, type Check, type CheckName, type HeldRevocation, type HeldRevocations, type SignedAt } from './verify-checks.js';
import { certificatePool, chainedPools } from './certificate-pool.js';
import { readingChecks } from './verify-reading.js';
import { registryChecks, type RegistryRecord } from './verify-registry-event.js';
import { holdRevocationLog, withRevocationLog, type PreparedRevocationLog, type RevocationLogInput } from './verify-revocation-log.js';

export { CHECK_NAMES, type Check, type CheckName } from './verify-checks.js';

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
  /**
   * Extra revocation statements the verifier holds (e.g. an agency's published list). Not known to be logged, so a
   * device revocation among them signed (iat) once a keyCompromise of its agency's key was in effect is passed over,
   * as the gateway refuses it (verify-checks.ts collectRevocations).
   */
  revocations?: readonly Uint8Array[];
  /**
   * Certificates the verifier holds for its revocations: a revocation by the agency's root of another certificate of
   * the reading's agency (the subject) that covers the reading's time is placed by it (a later certificate of the
   * same key, valid then, revoked: CERT_REVOKED) and without it fails UNKNOWN_KEY (protocol/agency-renewal.ts); the
   * log's list (`revocationLog`) carries its own.
   */
  certificates?: readonly Uint8Array[];
  /**
   * The log's whole revocation list with the checkpoint that commits to it (GET /v1/revocations): its statements
   * are held as `revocations` are, and the revocation check then holds up to that checkpoint's tree size. Either the
   * raw input, prepared for this verdict, or a list prepared once for many verdicts (prepareRevocationLog: its
   * statements decoded, hashed and indexed once; a verdict weighs only those its bundle's certificates could be
   * concerned by), with the same verdict. A prepared list is opened again here at `now` (the checkpoint keys valid
   * then; the opening is remembered per checkpoint and keys).
   */
  revocationLog?: RevocationLogInput | PreparedRevocationLog;
  /**
   * A checkpoint the verifier already trusts, and the consistency proof between it and the bundle's
   * (default: the bundle's consistency field, which must start at the `since` checkpoint's size).
   */
  since?: { checkpoint: string; proof?: readonly Uint8Array[] };
  /**
   * Verifier clock (seconds). Default: now. No checkpoint key vouches before its notBefore by this clock, and a block
   * dated after it (+ the clock skew) is CHECKPOINT_INVALID.
   */
  now?: number;
  /**
   * How far (seconds) a signed time (a reading's, a revocation's or a registered certificate's iat) may be ahead of the entry's receivedAt: the
   * gateway's clock skew allowance. Default: the trust material's `clockSkewSeconds`, else DEFAULT_MAX_SKEW_SECONDS
   * (300), the gateway's default `clockSkewSeconds`;
   * for a gateway configured with more, pass its value. Readings may be any age: no lower bound is checked.
   * It also bounds how far a block may be dated after `now`.
   */
  maxClockSkewSeconds?: number;
}

/** What a passing revocation check adds without the log's revocation list (verifyBundle). */
export const NOT_COMPLETE =
  "not complete: only the revocations the bundle carries and those given were weighed, and the bundle's producer chooses which it carries (the log's revocation list, verify --revocation-log, makes this check complete)";

/** A block header is bound to its checkpoint by this extension line (ledger/ledger.ts writes it). */
export function blockExtension(height: number, headerBytes: Uint8Array): string {
  return `block ${height} ${toBase64(sha256(headerBytes))}`;
}

/** Decode the bundle; a bundle that does not decode is unusable input (the CLI exits 2). */
export function verifyBundleBytes(bytes: Uint8Array, trust: TrustMaterial, opts: VerifyBundleOptions = {}): Verdict {
  return verifyBundle(decodeProofBundle(bytes), trust, opts);
}

/** Keys of the trust material whose validity window intersects [from, to] (seconds). */
function keysDuring(trust: TrustMaterial, from: number, to: number): NoteVerifier[] {
  return trust.checkpointKeys
    .filter((k) => (k.notAfter === undefined || k.notAfter > from) && (k.notBefore === undefined || k.notBefore <= to))
    .map((k) => k.verifier);
}


export function verifyBundle(bundle: ProofBundle, trust: TrustMaterial, opts: VerifyBundleOptions = {}): Verdict {
  const checks = new Map<CheckName, Check>();
  const v = opts.verifier ? { verifier: opts.verifier } : {};
  const ed: Ed25519Verify | undefined = opts.verifier ? ((sig, msg, pub) => opts.verifier!(ALG_EDDSA, pub, msg, sig)) : undefined;
  const nowS = opts.now ?? Math.floor(Date.now() / 1000);
  const skew = opts.maxClockSkewSeconds ?? trust.clockSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const cpOpts = { ...(trust.origin ? { origin: trust.origin } : {}), ...(ed ? { verify: ed } : {}) };
  let entry: LogEntry | undefined;
  let opened: OpenedReading | undefined;
  let cp: (Checkpoint & { verified: string[] }) | undefined;
  let header: BlockHeader | undefined;
  let rootName: string | undefined;
  /** The time the payload's signer put in it (a reading's, revocation's or certificate's iat): it bounds the entry's receivedAt. */
  let signedAt: SignedAt | undefined;
  let registryRecord: RegistryRecord = {};
  // The log's list, opened at now (prepared once by the caller, or here for this verdict), and every statement the
  // verifier holds: its own first, then the list's (those the bundle's certificates could be concerned by, for a
  // prepared list: verify-revocation-log.ts).
  const listed = opts.revocationLog ? holdRevocationLog(opts.revocationLog, trust, nowS, { verifier: opts.verifier }) : undefined;
  const log = listed?.held;
  const own: HeldRevocation[] = (opts.revocations ?? []).map((bytes) => ({ bytes }));
  const held: HeldRevocations = { about: (certs) => (listed ? [...own, ...listed.statements(certs, own.length)] : own) };

  // The entry itself: decodes, sits at the bundle's index.
  const entryCheck = run('claims', () => {
    const e = decodeLogEntry(bundle.entry);
    if (e.index !== bundle.index) fail('INCLUSION_INVALID', `entry says index ${e.index}, bundle says ${bundle.index}`, 'index');
    entry = e;
    return 'entry decodes';
  });

  // The payload (a reading or a registry event), against the certificates: no checkpoint needed.
  let agency: DecodedCertificate | undefined;
  const ownCertificates = certificatePool(opts.certificates ?? []);
  const certificates = listed?.pool ? chainedPools(ownCertificates, listed.pool) : ownCertificates;
  if (entry && entry.type === ENTRY_READING) {
    const rd = readingChecks(entry, bundle, trust, held, v, certificates);
    for (const [name, c] of rd.checks) checks.set(name, c);
    ({ opened, agency, rootName, signedAt } = rd);
  } else if (entry) {
    const reg = registryChecks(entry, bundle, trust, held, v, certificates);
    for (const c of [reg.signature, reg.chain, reg.revocation, reg.claims]) checks.set(c.name, c);
    registryRecord = reg.record;
    signedAt = reg.signedAt;
  } else {
    const why = `the entry does not check out (${entryCheck.message})`;
    checks.set('signature', skip('signature', why));
    checks.set('chain', skip('chain', why));
    checks.set('revocation', skip('revocation', why));
    checks.set('claims', entryCheck);
  }

  // Without the log's list the check weighed only the revocations the bundle carries and those the verifier gave, and
  // the bundle's producer chooses the former: a passing check says so, not "no revocation covers" as if that were
  // proven (found by review: a bundle stripped of its device's revocation read as proven unrevoked). With the list,
  // withRevocationLog says up to which tree size it is complete. A revocation entry is subject to none.
  const weighed = checks.get('revocation');
  if (!opts.revocationLog && entry && entry.type !== ENTRY_REVOCATION && weighed?.status === 'pass') {
    checks.set('revocation', { ...weighed, message: `${weighed.message}; ${NOT_COMPLETE}` });
  }

  // Checkpoint and block header (needed for inclusion). `cp` is set only once the whole check passed.
  checks.set(
    'checkpoint',
    run('checkpoint', () => {
      header = decodeBlockHeader(bundle.blockHeader);
      const h = header;
      if (bundle.index < h.firstIndex || bundle.index > h.lastIndex) fail('CHECKPOINT_INVALID', `block ${h.height} does not hold entry ${bundle.index}`, 'blockHeader');
      if (h.treeSize > bundle.treeSize) fail('CHECKPOINT_INVALID', `block ${h.height} (tree size ${h.treeSize}) is newer than the checkpoint (tree size ${bundle.treeSize})`, 'blockHeader');
      // The key is chosen by a time (the block's, or the entry's), so the times are checked against each other first:
      // signed by the device (or issuer) <= received by the gateway (+ the clock skew it allows) <= block sealed. A
      // key retired at T then cannot vouch for anything signed after T + skew, however the log's times are set.
      if (entry) {
        if (entry.receivedAtMs > h.timeMs) {
          fail('CHECKPOINT_INVALID', `block ${h.height} is dated ${h.timeMs} ms, before the entry it holds was received (${entry.receivedAtMs} ms)`, 'blockHeader.timeMs');
        }
        const received = Math.floor(entry.receivedAtMs / 1000);
        if (signedAt && signedAt.at > received + skew) {
          fail('CLOCK_SKEW', `${signedAt.what} ${signedAt.at}, ${signedAt.at - received} s after the log received it (${received}; at most ${skew} s allowed): its log time cannot choose a checkpoint key`, signedAt.path);
        }
      }
      // The producer sets the block time: one dated in the verifier's future could choose a key whose window has not
      // begun (a pre-published next key, leaked). The block (and, by the check above, the entry) must be dated by now
      // + the clock skew, and a key vouches only once its window has begun by now.
      const blockTime = Math.floor(h.timeMs / 1000);
      if (blockTime > nowS + skew) {
        fail('CHECKPOINT_INVALID', `block ${h.height} is dated ${blockTime}, ${blockTime - nowS} s after the verifier's clock (${nowS}; at most ${skew} s allowed)`, 'blockHeader.timeMs');
      }
      const bound = h.treeSize === bundle.treeSize;
      const entryTime = entry ? Math.floor(entry.receivedAtMs / 1000) : nowS;
      const keys = bound ? checkpointKeysForBlock(trust, blockTime, nowS) : keysDuring(trust, entryTime, nowS);
      if (keys.length === 0) {
        fail('CHECKPOINT_INVALID', bound ? `the trust material has no checkpoint key valid at the block time ${blockTime} and begun by now (${nowS})` : `the trust material has no checkpoint key valid after the entry time ${entryTime} and begun by now (${nowS})`, 'trust.checkpointKeys');
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

  if (log) checks.set('revocation', withRevocationLog(checks.get('revocation')!, log, entry?.index, cp, bundle.consistency, header?.treeSize));

  checks.set(
    'inclusion',
    entryCheck.status === 'fail'
      ? { ...entryCheck, name: 'inclusion' }
      : cp
        ? run('inclusion', () => {
            verifyInclusion(bundle.index, bundle.treeSize, leafHash(bundle.entry), bundle.inclusionProof, cp!.root);
            return `entry ${bundle.index} is in the tree of size ${bundle.treeSize} (${bundle.inclusionProof.length} proof hashes)`;
          })
        : untrustedInclusion(bundle),
  );

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
    const rec = verdict.record;
    if (opened) {
      rec.deviceId = toHex(opened.claims.deviceId);
      rec.seq = opened.claims.seq;
      rec.iat = opened.claims.iat;
      rec.body = opened.claims.body.kind === 'biometric' ? { ...opened.claims.body, subjectCommitment: toHex(opened.claims.body.subjectCommitment) } : opened.claims.body;
      if (agency) rec.agency = agency.claims.sub;
      if (rootName !== undefined) rec.root = rootName;
    } else {
      Object.assign(rec, registryRecord);
    }
  }
  if (cp) verdict.checkpoint = { origin: cp.origin, size: cp.size, root: toBase64(cp.root), signedBy: cp.verified };
  return verdict;
}

/**
 * Without a trusted checkpoint nothing can be proven, but an inclusion proof (RFC 9162 §2.1.3.2) that does not even
 * lead to the root the checkpoint claims is a failure whoever signed it: a changed entry is INCLUSION_INVALID either
 * way, also when its changed times fail the checkpoint check before any key is chosen.
 */
function untrustedInclusion(bundle: ProofBundle): Check {
  let claimed: Uint8Array;
  try {
    claimed = parseCheckpoint(parseNote(bundle.checkpoint).text).root;
  } catch {
    return skip('inclusion', 'no trusted checkpoint to prove against');
  }
  const c = run('inclusion', () => {
    verifyInclusion(bundle.index, bundle.treeSize, leafHash(bundle.entry), bundle.inclusionProof, claimed);
    return '';
  });
  return c.status === 'fail' ? c : skip('inclusion', 'no trusted checkpoint to prove against');
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
