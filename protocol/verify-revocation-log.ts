/**
 * The revocation check made complete (verify-bundle.ts `revocationLog`): the verifier brings the log's whole
 * revocation list with the checkpoint that commits to it (GET /v1/revocations; protocol/revocation-log.ts). The
 * list is opened once, before the checks (or prepared once for many verdicts: PreparedRevocationList below): its
 * statements join the revocations the verifier holds, and the
 * revocation check then says up to which tree size no revocation can be missing. A list that does not hash to
 * its checkpoint's line, or a checkpoint not signed by a trusted key or of another log, fails the revocation check
 * (CHECKPOINT_INVALID): the verifier asked for completeness and cannot have it.
 */
import { ALG_EDDSA, type SignatureVerifier } from './algorithms.js';
import type { BundleConsistency } from './bundle.js';
import type { DecodedCertificate } from './certificate.js';
import { certificatePool, type CertificatePool } from './certificate-pool.js';
import { certificateRefs } from './certificate-refs.js';
import type { Checkpoint, Ed25519Verify, NoteVerifier } from './checkpoint.js';
import { bytesEqual, toHex } from './bytes.js';
import { fail, OriginProofError } from './errors.js';
import { verifyConsistency } from './merkle/verify.js';
import { digestRevocationList, openDigestedRevocationLog, type DigestedRevocationList, type LoggedRevocation, type OpenedRevocationLog } from './revocation-log.js';
import { decodeRevocation, type DecodedRevocation } from './revocation.js';
import type { RevocationCertificates } from './revocation-listing.js';
import { checkpointKeysAt, type TrustMaterial } from './trust.js';
import { run, type Check, type HeldRevocation } from './verify-checks.js';

export interface RevocationLogInput {
  /** The signed checkpoint note whose `revocations` line commits to `revocations`. */
  checkpoint: string;
  /**
   * Every revocation entry of the log below the checkpoint's tree size: index and statement (the logged payload);
   * for an agency's revocation, the certificate it names; for a device's keyCompromise, the certificate it names and
   * its agency's (`issuer`). Not committed to by the checkpoint: they are checked against the statement's certRef and
   * their issuers' signatures up to a trusted root (agency-renewal.ts, key-compromise.ts).
   */
  revocations: readonly (LoggedRevocation & RevocationCertificates)[];
  /**
   * An RFC 9162 consistency proof between the list's checkpoint and the bundle's (from the smaller tree size to the
   * larger: GET /v1/proofs/consistency), when they differ in size: it shows they are one log's. The bundle's own
   * consistency proof, if it starts at the list's size (fetch-bundle --since), is tried too: either linking them is
   * enough; one that does not link them, without another that does, fails the check; without either, the verdict says
   * they are not linked.
   */
  consistency?: readonly Uint8Array[];
}

export type HeldRevocationLog = { opened: OpenedRevocationLog; consistency?: readonly Uint8Array[] } | { failed: Check };

/**
 * A revocation list with the work that depends on its statements alone done once (sigstore-js style: expensive trust
 * material built once and handed to the verifier): sorted and hashed (revocation-log.ts digestRevocationList), each
 * statement decoded, indexed by the certificate it names (certRef) and by its subject, and the certificates carried
 * beside them kept as one pool, decoded on first use. Opening it against a checkpoint (a signature and two
 * comparisons) is remembered for the last two checkpoints. A verdict against it (verifyBundle with a
 * PreparedRevocationLog) looks only at the statements its bundle's certificates could be concerned by; a verdict
 * with the raw input (RevocationLogInput: `originproof verify --revocation-log`) prepares the list for itself and
 * weighs every statement, as ever: the same checks, the same verdict (test/gateway/verify-prepared-revocations.test.ts,
 * test/verify/prepared-revocation-log-property.test.ts).
 * Keep it only while its input does not change (entries, and the certificates beside them).
 */
export interface PreparedRevocationList {
  readonly revocations: RevocationLogInput['revocations'];
  readonly digest: DigestedRevocationList;
  /** The statements in index order (the checkpoint's), each decoded once, as statements of the log (`logged`). */
  readonly held: readonly HeldRevocation[];
  /** Positions in `held` by the statement's certRef (hex) and by its subject; those that do not decode. */
  readonly byRef: ReadonlyMap<string, readonly number[]>;
  readonly bySub: ReadonlyMap<string, readonly number[]>;
  readonly undecodable: readonly number[];
  /** The certificates beside the statements, in the input's order. */
  readonly pool: CertificatePool;
  /** Opened against checkpoints, the latest first (at most two). */
  readonly opened: { checkpoint: string; keys: readonly NoteVerifier[]; origin: string | undefined; verifier: SignatureVerifier | undefined; result: HeldRevocationLog }[];
}

/** The list prepared against one checkpoint (and the consistency proof given with it): what verifyBundle takes in place of RevocationLogInput. */
export interface PreparedRevocationLog {
  readonly list: PreparedRevocationList;
  readonly checkpoint: string;
  readonly consistency?: readonly Uint8Array[];
}

export function isPreparedRevocationLog(log: RevocationLogInput | PreparedRevocationLog): log is PreparedRevocationLog {
  return 'list' in log && log.list !== undefined;
}

/** A statement's certRef in hex, worked out once per decoded statement (a grown list is indexed again from them). */
const refHexes = new WeakMap<DecodedRevocation, string>();
const refHex = (rev: DecodedRevocation): string => {
  let hex = refHexes.get(rev);
  if (hex === undefined) refHexes.set(rev, (hex = toHex(rev.claims.certRef)));
  return hex;
};

const push = (m: Map<string, number[]>, k: string, v: number): void => {
  const at = m.get(k);
  if (at) {
    if (at[at.length - 1] !== v) at.push(v);
  } else m.set(k, [v]);
};

/**
 * The per-statement work on a list, once (see PreparedRevocationList). `previous`: a preparation of an earlier state
 * of the same list (a log's list only grows): the work on the entries it holds, the very same objects (the caller
 * keeps them unchanged), is taken from it, so a revocation added costs its own work, not the whole list's again.
 */
export function prepareRevocationList(revocations: RevocationLogInput['revocations'], previous?: PreparedRevocationList): PreparedRevocationList {
  const digest = digestRevocationList(revocations, undefined, previous?.digest);
  const known = new Map<Uint8Array, HeldRevocation['decoded']>();
  for (const h of previous?.held ?? []) known.set(h.bytes, h.decoded);
  const byRef = new Map<string, number[]>();
  const bySub = new Map<string, number[]>();
  const undecodable: number[] = [];
  const held = digest.sorted.map((r, j): HeldRevocation => {
    const before = known.get(r.statement);
    if (before && 'rev' in before) {
      push(byRef, refHex(before.rev), j);
      push(bySub, before.rev.claims.sub, j);
      return { bytes: r.statement, logged: true, decoded: before };
    }
    try {
      const rev = decodeRevocation(r.statement);
      push(byRef, refHex(rev), j);
      push(bySub, rev.claims.sub, j);
      return { bytes: r.statement, logged: true, decoded: { rev } };
    } catch (error) {
      undecodable.push(j);
      return { bytes: r.statement, logged: true, decoded: { error } };
    }
  });
  const certificates = revocations.flatMap((r) => [r.certificate, r.issuer].filter((c): c is Uint8Array => c !== undefined));
  return { revocations, digest, held, byRef, bySub, undecodable, pool: certificatePool(certificates), opened: [] };
}

/**
 * Open a prepared list against `checkpoint` with the trust material's checkpoint keys valid at `now` (not a retired
 * one: the list speaks of now), as openHeldRevocationLog does. The key choice is made per call, so a kept
 * preparation never outlives a key's window; the opening itself is remembered by checkpoint, keys, origin and verifier.
 */
export function openPreparedRevocationList(
  list: PreparedRevocationList, checkpoint: string, trust: TrustMaterial, now: number, opts: { verifier?: SignatureVerifier | undefined } = {},
): HeldRevocationLog {
  const keys = checkpointKeysAt(trust, now);
  const origin = trust.origin;
  const same = (a: readonly NoteVerifier[], b: readonly NoteVerifier[]) => a.length === b.length && a.every((k, i) => k === b[i]);
  const known = keys.length > 0 && list.opened.find((o) => o.checkpoint === checkpoint && o.origin === origin && o.verifier === opts.verifier && same(o.keys, keys));
  if (known) return known.result;
  let opened: OpenedRevocationLog | undefined;
  const check = run('revocation', () => {
    if (keys.length === 0) fail('CHECKPOINT_INVALID', `the trust material has no checkpoint key valid now (${now})`, 'trust.checkpointKeys');
    const verifier = opts.verifier;
    const verify: Ed25519Verify | undefined = verifier ? (sig, msg, pub) => verifier(ALG_EDDSA, pub, msg, sig) : undefined;
    opened = openDigestedRevocationLog(list.digest, checkpoint, keys, { ...(origin ? { origin } : {}), ...(verify ? { verify } : {}) });
    return '';
  });
  const result: HeldRevocationLog = opened ? { opened } : { failed: { ...check, message: `revocation log: ${check.message}` } };
  if (keys.length > 0) {
    list.opened.unshift({ checkpoint, keys, origin, verifier: opts.verifier, result });
    list.opened.splice(2);
  }
  return result;
}

/**
 * The list prepared for verdicts (verifyBundle's `revocationLog`): `input.revocations` prepared once (or `list`, a
 * preparation of the same entries kept from before: only the checkpoint changed) and opened at `now`.
 */
export function prepareRevocationLog(
  input: RevocationLogInput, trust: TrustMaterial, now: number, opts: { verifier?: SignatureVerifier; list?: PreparedRevocationList } = {},
): PreparedRevocationLog {
  const list = opts.list ?? prepareRevocationList(input.revocations);
  openPreparedRevocationList(list, input.checkpoint, trust, now, opts);
  return { list, checkpoint: input.checkpoint, ...(input.consistency ? { consistency: input.consistency } : {}) };
}

/**
 * The list as verifyBundle holds it: opened (or failed), and its statements as held revocations placed after the
 * verifier's own `offset` ones. With a prepared list, those its bundle's certificates could be concerned by (by
 * certRef or subject, and any that does not decode: verify-checks.ts HeldRevocations); with the raw input, every one.
 */
export function holdRevocationLog(
  log: RevocationLogInput | PreparedRevocationLog, trust: TrustMaterial, now: number, opts: { verifier?: SignatureVerifier | undefined },
): { held: HeldRevocationLog; statements(certs: readonly DecodedCertificate[], offset: number): HeldRevocation[]; pool: CertificatePool | undefined } {
  const prepared = isPreparedRevocationLog(log);
  const list = prepared ? log.list : prepareRevocationList(log.revocations);
  const opened = openPreparedRevocationList(list, log.checkpoint, trust, now, opts);
  // A copy: the verdict may carry the failed check, and the opening is kept for the next verdicts.
  const held: HeldRevocationLog = 'opened' in opened ? { opened: opened.opened, ...(log.consistency ? { consistency: log.consistency } : {}) } : { failed: { ...opened.failed } };
  if (!('opened' in held)) return { held, statements: () => [], pool: undefined };
  const statements = (certs: readonly DecodedCertificate[], offset: number): HeldRevocation[] => {
    if (!prepared) return list.held.map((h, j) => ({ ...h, at: offset + j }));
    const picked = new Set<number>(list.undecodable);
    for (const c of certs) {
      for (const j of list.bySub.get(c.claims.sub) ?? []) picked.add(j);
      for (const ref of certificateRefs(c)) for (const j of list.byRef.get(toHex(ref)) ?? []) picked.add(j);
    }
    return [...picked].sort((a, b) => a - b).map((j) => ({ ...list.held[j]!, at: offset + j }));
  };
  return { held, statements, pool: list.pool };
}

/**
 * Open the list against the trust material's checkpoint keys valid at `now`: the list speaks of now, so a retired key
 * (notAfter passed), kept to verify what it signed in its time, cannot vouch for it.
 */
export function openHeldRevocationLog(
  input: RevocationLogInput, trust: TrustMaterial, now: number, opts: { verifier?: SignatureVerifier } = {},
): HeldRevocationLog {
  return holdRevocationLog(input, trust, now, opts).held;
}

/**
 * What is wrong with an opened list against the bundle's trusted checkpoint: another log, or a fork of it. The two
 * checkpoints are one log's if they are of the same tree size with the same root, or (a list older than the bundle)
 * a consistency proof leads from the smaller's root to the larger's: the one given with the list, or the bundle's own
 * if it starts at the list's size (fetch-bundle --since SIZE). Otherwise nothing here links them: `linked` false, and
 * the verdict says how to link them.
 */
function listProblem(
  log: OpenedRevocationLog, cp: Checkpoint | undefined, given: readonly Uint8Array[] | undefined, bundleProof: BundleConsistency | undefined,
): { problem?: Check; linked: boolean } {
  const failed = (message: string): { problem: Check; linked: boolean } => ({
    problem: { name: 'revocation', status: 'fail', code: 'CHECKPOINT_INVALID', message: `revocation log: ${message}` }, linked: false,
  });
  if (!cp) return { linked: false };
  if (cp.origin !== log.origin) return failed(`of the log ${log.origin}, not ${cp.origin}`);
  if (cp.size === log.size) {
    return bytesEqual(cp.root, log.root) ? { linked: true } : failed(`its checkpoint and the bundle's are both of tree size ${cp.size} with different roots: a forked log`);
  }
  // Both proofs are tried, the given one first: either that verifies links them, since a valid proof between two
  // trusted checkpoints shows one log whatever else came with them (a wrong proof given with the list failed a
  // bundle whose own proof linked it, suspected last session).
  const own = bundleProof && bundleProof.fromSize === log.size && log.size < cp.size ? bundleProof.proof : undefined;
  const proofs = [given, own].filter((p): p is readonly Uint8Array[] => p !== undefined);
  if (proofs.length === 0) return { linked: false };
  const [small, large] = log.size < cp.size ? [log, cp] : [cp, log];
  let first: OriginProofError | undefined;
  for (const proof of proofs) {
    try {
      verifyConsistency(small.size, large.size, proof, small.root, large.root);
      return { linked: true };
    } catch (err) {
      if (!(err instanceof OriginProofError)) throw err;
      first ??= err;
    }
  }
  return failed(`the log of tree size ${large.size} does not extend the log of tree size ${small.size} (the list's checkpoint is at ${log.size}, the bundle's at ${cp.size}; ${first!.message}): a forked log`);
}

/**
 * The revocation check with the list's verdict. A list that did not open, is of another log than the bundle's
 * trusted checkpoint or of a fork of it fails the check (CHECKPOINT_INVALID); a check that failed already keeps its
 * own code (say CERT_REVOKED from the bundle's own revocation) with the list's problem added to its message. A
 * passed check says how far it is complete; a skipped one is kept.
 */
export function withRevocationLog(
  check: Check, held: HeldRevocationLog, entryIndex: number | undefined, cp: Checkpoint | undefined, consistency?: BundleConsistency,
  /** The tree size of the entry's own block (its header's): fetch-bundle without --tree-size proves against it. */
  ownBlockSize?: number,
): Check {
  const { problem, linked } = 'failed' in held ? { problem: held.failed, linked: false } : listProblem(held.opened, cp, held.consistency, consistency);
  if (problem) return check.status === 'fail' ? { ...check, message: `${check.message}; ${problem.message}` } : problem;
  const log = (held as { opened: OpenedRevocationLog }).opened;
  if (check.status !== 'pass') return check;
  const after = entryIndex !== undefined && entryIndex >= log.size ? ` (this entry, at index ${entryIndex}, is past it: revocations logged since are not covered)` : '';
  // Two checkpoints of different sizes, each signed by a trusted key, could be of two forks (found by review): say so.
  let unlinked = '';
  if (!linked && cp) {
    // fetch-bundle --since alone proves against the entry's own block, and the gateway refuses a since beyond that
    // (found by review: an entry whose block is before the list was told --since M, answered 400): then the bundle's
    // own tree size is named with it.
    const since = ownBlockSize !== undefined && ownBlockSize < log.size ? `--since ${log.size} --tree-size ${cp.size}` : `--since ${log.size}`;
    const ways = [log.size < cp.size ? since : '', entryIndex === undefined || entryIndex < log.size ? `--tree-size ${log.size}` : ''].filter(Boolean);
    unlinked = `; its checkpoint (tree size ${log.size}) is not linked to the bundle's (tree size ${cp.size}): fetch the bundle with ${ways.join(' or ')} to check they are one log`;
  }
  return {
    ...check,
    message: `${check.message}; complete up to tree size ${log.size}: the log's ${log.revocations.length} revocation(s) below it, committed to by a checkpoint signed by ${log.signedBy.join(', ')}${after}${unlinked}`,
  };
}
