/**
 * What the Verify view does, without the DOM: read what the verifier typed or pasted, describe the trust
 * anchors, and verify a bundle's bytes with protocol/verify-bundle.ts (the same library the CLI uses; nothing
 * is re-implemented here). Network access is injected, so the logic runs in Node tests too.
 */
import { toHex } from '../protocol/bytes.js';
import { decodeProofBundleAny, type ProofBundle } from '../protocol/bundle.js';
import { openNote, parseCheckpoint, parseNote } from '../protocol/checkpoint.js';
import { keyThumbprint } from '../protocol/cose-key.js';
import { algName } from '../protocol/algorithms.js';
import { OriginProofError } from '../protocol/errors.js';
import { sha256 } from '../protocol/hash.js';
import { revocationsOfCheckpoint } from '../protocol/revocation-log.js';
import { checkpointKeysAt, type TrustMaterial } from '../protocol/trust.js';
import { verifyBundle, type Verdict } from '../protocol/verify-bundle.js';
import type { RevocationLogInput } from '../protocol/verify-revocation-log.js';
import type { SentenceContext } from './format.js';

/**
 * The most bytes the page takes as a proof bundle (a dropped file, or the gateway's answer for an entry). A bundle
 * is a few kilobytes (an entry of at most 1,024 bytes, certificates of at most 2,048, an inclusion proof of at most
 * 64 hashes); this is hundreds of times that, and as much as the gateway's POST /v1/verify takes by default. Above
 * it: TOO_LARGE, unread. A 40 MB file of repeated certificates froze the tab for ~11 s before its verdict (found by
 * the web review); at this cap the checks take ~0.2-0.4 s, which the page runs in a Web Worker (web/verify-worker.ts).
 */
export const MAX_BUNDLE_BYTES = 1024 * 1024;

/** The outcome for `size` bytes over MAX_BUNDLE_BYTES: unusable, TOO_LARGE. */
export function tooLargeBundle(size: number): Outcome {
  return { kind: 'unusable', code: 'TOO_LARGE', message: `${size} bytes: a proof bundle is at most ${MAX_BUNDLE_BYTES} bytes here (not read)` };
}

export type EntryInput = { index: number } | { otherHost: string } | null;

/** "42", "#/entry/42", or a link to this gateway ending in #/entry/42 or naming /v1/entries/42[/bundle]. */
export function parseEntryInput(text: string, pageOrigin: string): EntryInput {
  const s = text.trim();
  if (/^\d{1,15}$/.test(s)) return { index: Number(s) };
  const hash = /^#\/entry\/(\d{1,15})$/.exec(s);
  if (hash) return { index: Number(hash[1]) };
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return null;
  }
  const m = /^#\/entry\/(\d{1,15})$/.exec(url.hash) ?? /\/v1\/entries\/(\d{1,15})(?:\/bundle)?\/?$/.exec(url.pathname);
  if (!m) return null;
  if (url.origin !== pageOrigin) return { otherHost: url.host };
  return { index: Number(m[1]) };
}

export interface AnchorView {
  name: string;
  alg: string;
  /** RFC 9679 COSE key thumbprint (the kid certificates name their issuer by), hex. */
  fingerprint: string;
  notBefore?: number;
  notAfter?: number;
}

export interface GatewayKeyView {
  name: string;
  keyId: string;
  /** SHA-256 of the Ed25519 public key, hex. */
  fingerprint: string;
  notBefore?: number;
  notAfter?: number;
}

export function describeTrust(trust: TrustMaterial): { roots: AnchorView[]; keys: GatewayKeyView[]; origin?: string } {
  const win = (w: { notBefore?: number; notAfter?: number }) => ({
    ...(w.notBefore !== undefined ? { notBefore: w.notBefore } : {}),
    ...(w.notAfter !== undefined ? { notAfter: w.notAfter } : {}),
  });
  return {
    roots: trust.roots.map((r) => ({ name: r.name, alg: algName(r.key.alg), fingerprint: toHex(keyThumbprint(r.key)), ...win(r) })),
    keys: trust.checkpointKeys.map((k) => ({ name: k.verifier.name, keyId: toHex(k.verifier.keyId), fingerprint: toHex(sha256(k.verifier.publicKey)), ...win(k) })),
    ...(trust.origin ? { origin: trust.origin } : {}),
  };
}

export interface KeptCheckpoint {
  note: string;
  origin: string;
  size: number;
  keptAtMs: number;
}

/** Read a checkpoint the verifier keeps (its signature is checked when it is used, against the trust anchors). */
export function readKeptCheckpoint(note: string, keptAtMs: number): KeptCheckpoint {
  const cp = parseCheckpoint(parseNote(note).text);
  return { note, origin: cp.origin, size: cp.size, keptAtMs };
}

/**
 * Why the gateway gave no answer to use: 'offline' (no network, or the connection failed), 'unavailable' (it could not
 * answer now: 408, 429, 500, 502, 503, 504, say 503 while its store recovers), or 'refused' (any other answer that is
 * not the proof or list asked for).
 */
export type NoAnswer = 'offline' | 'unavailable' | 'refused';

/** A consistency proof between two sizes from the gateway: proof hashes, or why there is none. */
export type ProofFetcher = (from: number, to: number) => Promise<Uint8Array[] | NoAnswer>;

/**
 * The log's whole revocation list with its checkpoint (GET /v1/revocations), or why there is none. `bound` (given by
 * verifyBundleFile: revocationListBound with the verifier's anchors) says, for the checkpoint the first page names, how
 * many revocations the pages may hold; undefined: only the first page is taken (the list will not be used anyway).
 */
export type RevocationLogFetcher = (bound?: (checkpoint: string) => number | undefined) => Promise<RevocationLogInput | NoAnswer>;

/**
 * How many revocations a list under checkpoint `note` can hold: the count its `revocations` line commits to (else its
 * tree size), if a key the verifier trusts now signed it; undefined if none did (the page does not use such a list).
 * The gateway's own `count` and `treeSize` bound nothing: one-entry pages under a count of a trillion kept the page
 * on "Verifying…" for good (found by the web review).
 */
export function revocationListBound(note: string, trust: TrustMaterial): number | undefined {
  try {
    openNote(note, checkpointKeysAt(trust, Math.floor(Date.now() / 1000)));
    const cp = parseCheckpoint(parseNote(note).text);
    return revocationsOfCheckpoint(cp.extensions)?.count ?? cp.size;
  } catch {
    return undefined;
  }
}

const UNAVAILABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** What an HTTP status other than 2xx means for a proof or list request (NoAnswer). */
export function noAnswerOf(status: number): 'unavailable' | 'refused' {
  return UNAVAILABLE_STATUSES.has(status) ? 'unavailable' : 'refused';
}

export type Outcome =
  | { kind: 'verdict'; verdict: Verdict; bundle: ProofBundle; ctx: SentenceContext }
  | { kind: 'unusable'; code: string; message: string }
  /** The gateway answered entry `requested` with the bundle of another entry: no proof of the requested one. */
  | { kind: 'wrongEntry'; requested: number; got: number };

/** The gateway config range of clockSkewSeconds: a published value outside it is not used. */
const MAX_PUBLISHED_SKEW_SECONDS = 86_400;

/**
 * The clock skew allowance a gateway publishes with its trust material (`clockSkewSeconds` in GET /v1/trust, or in
 * a trust file saved from it): a whole number of seconds from 1 to 86,400 (the gateway's config range), else none
 * (verification then uses the library default, 300 s).
 */
export function publishedSkew(trustText: string | undefined): number | undefined {
  if (trustText === undefined) return undefined;
  let v: unknown;
  try {
    v = (JSON.parse(trustText) as { clockSkewSeconds?: unknown } | null)?.clockSkewSeconds;
  } catch {
    return undefined;
  }
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_PUBLISHED_SKEW_SECONDS ? v : undefined;
}

/**
 * A bundle fetched for entry `requested` proves that entry only if it is that entry's bundle: a gateway answering
 * with another entry's (genuine) bundle must not make the page say entry `requested` is valid.
 */
export function forRequestedEntry(outcome: Outcome, requested: number): Outcome {
  if (outcome.kind !== 'verdict') return outcome;
  const got = outcome.bundle.index;
  const recorded = outcome.verdict.record?.index;
  if (got !== requested) return { kind: 'wrongEntry', requested, got };
  if (recorded !== undefined && recorded !== requested) return { kind: 'wrongEntry', requested, got: recorded };
  return outcome;
}

export interface VerifyFileOptions {
  /** The gateway's clock skew allowance (publishedSkew); default the library's (300 s). */
  maxClockSkewSeconds?: number;
  /**
   * Where the log's revocation list comes from: with it the revocation check is complete up to its checkpoint
   * (checked against the trust anchors' checkpoint keys, so the server that sent it need not be trusted).
   */
  fetchRevocationLog?: RevocationLogFetcher;
}

/** A note's checkpoint origin and size, unverified (undefined if it is none). */
function peek(note: string): { origin: string; size: number } | undefined {
  try {
    return parseCheckpoint(parseNote(note).text);
  } catch {
    return undefined;
  }
}
const logOrigin = (note: string) => peek(note)?.origin;
function signedByTrusted(note: string, trust: TrustMaterial): boolean {
  try {
    openNote(note, checkpointKeysAt(trust, Math.floor(Date.now() / 1000)));
    return true;
  } catch {
    return false;
  }
}
const logSize = (note: string) => peek(note)?.size;

/**
 * A bundle's bytes verified: decoded, with the kept checkpoint's consistency proof and the log's revocation list
 * fetched through `fetchProof` and `opts`, and checked (verifyBundle). The page runs it in its verification worker,
 * requests included, their time limits on the page's clock (web/verify-in-worker.ts), or on its own thread without
 * one: the same code either way.
 */
export async function verifyBundleFile(
  bytes: Uint8Array,
  trust: TrustMaterial,
  kept: KeptCheckpoint | null,
  fetchProof: ProofFetcher,
  opts: VerifyFileOptions = {},
): Promise<Outcome> {
  if (bytes.length > MAX_BUNDLE_BYTES) return tooLargeBundle(bytes.length);
  let bundle: ProofBundle;
  try {
    bundle = decodeProofBundleAny(bytes);
  } catch (err) {
    return { kind: 'unusable', code: err instanceof OriginProofError ? err.code : 'MALFORMED', message: (err as Error).message };
  }
  const ctx: SentenceContext = {};
  let since: { checkpoint: string; proof?: Uint8Array[] } | undefined;
  const bundleOrigin = logOrigin(bundle.checkpoint);
  if (kept && bundleOrigin !== undefined && kept.origin !== bundleOrigin) {
    // Kept from another log (a trust file naming several gateways' keys, a bundle of another gateway dropped here):
    // it says nothing about this log, and this gateway has no proof between them. Applied, it failed every record
    // of the other log CONSISTENCY_INVALID; `originproof verify --since` still fails it, asked for explicitly.
    ctx.keptOtherLog = kept.origin;
  } else if (kept) {
    ctx.keptSize = kept.size;
    if (kept.size === bundle.treeSize || bundle.consistency?.fromSize === kept.size) {
      since = { checkpoint: kept.note };
    } else {
      const [from, to] = kept.size < bundle.treeSize ? [kept.size, bundle.treeSize] : [bundle.treeSize, kept.size];
      const proof = await fetchProof(from, to);
      // A gateway that cannot answer now is left unchecked as offline is (a gateway could as well drop the
      // connection: failing the record on a 503 while its store recovers said no more, and alarmed its reader).
      if (proof === 'offline') ctx.consistencyOffline = true;
      else if (proof === 'unavailable') ctx.consistencyUnavailable = true;
      // A gateway that will not prove its log extends the kept checkpoint fails the check (no proof given).
      else since = proof === 'refused' ? { checkpoint: kept.note, proof: [] } : { checkpoint: kept.note, proof };
    }
  }
  let revocationLog: RevocationLogInput | undefined;
  if (opts.fetchRevocationLog) {
    const got = await opts.fetchRevocationLog((note) => revocationListBound(note, trust));
    if (typeof got === 'string') ctx.revocationsUnchecked = got;
    else if (logOrigin(got.checkpoint) !== undefined && logOrigin(got.checkpoint) !== logOrigin(bundle.checkpoint)) {
      // A bundle of another log (a file dropped on this gateway's page): this gateway's list says nothing about it.
      ctx.revocationsUnchecked = 'otherLog';
    } else if (!signedByTrusted(got.checkpoint, trust)) {
      // Not a note signed by a key the verifier trusts now (e.g. its own trust file predates a key rotation): the
      // list is no evidence either way, so the page does not use it, and says it saw only the record's own
      // revocations. A list whose checkpoint a trusted key signed is used, and fails the check if it is not the
      // committed one.
      ctx.revocationsUnchecked = 'untrusted';
    } else {
      revocationLog = got; // signed by a trusted key: a list that is not the committed one fails CHECKPOINT_INVALID
      const size = logSize(got.checkpoint);
      // Of another size than the record's checkpoint: the gateway proves both are one log's (a fork fails the
      // revocation check), as it proves the kept checkpoint's; one that will not fails it too (no proof given).
      let unlinked: 'offline' | 'unavailable' | undefined;
      // A record fetched with --since the list's size carries the proof itself (the verifier checks it): nothing to
      // ask, and a gateway that would not answer does not turn the record's own link into a fork (found by review).
      const ownLink = size !== undefined && size < bundle.treeSize && bundle.consistency?.fromSize === size;
      if (size !== undefined && size !== bundle.treeSize && !ownLink) {
        const proof = await fetchProof(Math.min(size, bundle.treeSize), Math.max(size, bundle.treeSize));
        if (proof !== 'offline' && proof !== 'unavailable') revocationLog = { ...got, consistency: proof === 'refused' ? [] : proof };
        // No proof to be had: the list is not linked to the record, and a fork's list cannot be told from the log's.
        // Its revocations count, but the page does not say "not revoked" on it (found by review: it did, with the
        // proof request failing).
        else unlinked = proof;
      }
      // A list older than the record (its checkpoint was fetched before the record was logged): its revocations
      // count, but it says nothing of those logged since, so the page does not say "not revoked".
      if (size !== undefined && bundle.index >= size) ctx.revocationsUnchecked = 'stale';
      else if (unlinked) ctx.revocationsUnchecked = unlinked;
      else if (size !== undefined) ctx.revocationLog = { size, count: got.revocations.length };
    }
  } else ctx.revocationsUnchecked = 'refused';
  const verdict = verifyBundle(bundle, trust, {
    ...(since ? { since } : {}),
    ...(revocationLog ? { revocationLog } : {}),
    ...(opts.maxClockSkewSeconds !== undefined ? { maxClockSkewSeconds: opts.maxClockSkewSeconds } : {}),
  });
  const signers = verdict.checkpoint?.signedBy ?? [];
  if (signers.length > 0) {
    ctx.gatewayLabel = signers
      .map((name) => {
        const ids = trust.checkpointKeys.filter((k) => k.verifier.name === name).map((k) => toHex(k.verifier.keyId));
        return ids.length === 1 ? `${name} (${ids[0]})` : name;
      })
      .join(', ');
  }
  return { kind: 'verdict', verdict, bundle, ctx };
}
