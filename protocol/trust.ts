/**
 * Trust material: what a gateway or a verifier trusts, and nothing else — root authority keys and gateway
 * checkpoint keys, each optionally bounded in time. Parsed once from a JSON trust file and passed in
 * (sigstore-js style). Format (README "Trust file"):
 *   { "roots": [ { "certificate": base64 } | { "name", "alg": "EdDSA"|"ES256", "publicKey": hex, "notBefore"?, "notAfter"? } ],
 *     "checkpointKeys": [ { "key": "<C2SP verifier key>", "notBefore"?, "notAfter"? } ],
 *     "origin"?: "<log origin>" }
 * Times are seconds since the Unix epoch.
 */
import { ALG_EDDSA, ALG_ES256, type SignatureVerifier } from './algorithms.js';
import { fromBase64, fromHex } from './bytes.js';
import { anchorFromRootCertificate, trustAnchors, type TrustAnchorInput, type TrustAnchors } from './chain.js';
import { parseVerifierKey, type NoteVerifier } from './checkpoint.js';
import { publicKey } from './cose-key.js';
import { fail } from './errors.js';
import { jsonErrorUnquoted } from './json-error.js';

export interface CheckpointKey {
  verifier: NoteVerifier;
  notBefore?: number;
  notAfter?: number;
}

export interface TrustMaterial {
  anchors: TrustAnchors;
  roots: TrustAnchorInput[];
  checkpointKeys: CheckpointKey[];
  origin?: string;
  /**
   * The gateway's clock skew allowance in seconds (its config clockSkewSeconds, 1..86,400), when the trust file
   * names it: verifyBundle's default for maxClockSkewSeconds (verify-bundle.ts).
   */
  clockSkewSeconds?: number;
}

function optTime(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail('MALFORMED', `${path} must be seconds since the epoch`, path);
  return v;
}

/**
 * Every field of an entry is one the verifier reads (found by review: a root certificate's entry read `certificate`
 * alone, so a `notAfter` written beside it, ending the trust in that root, bounded nothing; a misspelt window field,
 * `notafter` say, left a key trusted at any time). A window the verifier would not honour is refused, not ignored.
 */
function onlyFields(o: Record<string, unknown>, fields: readonly string[], path: string, why: string): void {
  for (const k of Object.keys(o)) {
    if (!fields.includes(k)) fail('MALFORMED', `${path} has a field ${JSON.stringify(k.slice(0, 40))} the verifier does not read: ${why}`, `${path}.${k.slice(0, 40)}`);
  }
}

const ROOT_KEY_FIELDS = ['name', 'alg', 'publicKey', 'notBefore', 'notAfter'];
const CHECKPOINT_KEY_FIELDS = ['key', 'notBefore', 'notAfter'];
const TRUST_FILE_FIELDS = ['roots', 'checkpointKeys', 'origin', 'clockSkewSeconds'];

function rootFrom(v: unknown, i: number, verifier?: SignatureVerifier): TrustAnchorInput {
  const path = `roots[${i}]`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('MALFORMED', `${path} must be an object`, path);
  const r = v as Record<string, unknown>;
  if (r.certificate !== undefined) {
    onlyFields(r, ['certificate'], path, 'a root given by its certificate is trusted over the certificate\'s own window (nbf to exp); to trust it over another, give its key instead: {name, alg, publicKey, notBefore, notAfter}');
    if (typeof r.certificate !== 'string') fail('MALFORMED', `${path}.certificate must be base64 text`, `${path}.certificate`);
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(r.certificate);
    } catch {
      return fail('MALFORMED', `${path}.certificate is not base64`, `${path}.certificate`);
    }
    return anchorFromRootCertificate(bytes, verifier);
  }
  onlyFields(r, ROOT_KEY_FIELDS, path, `a root key's entry holds ${ROOT_KEY_FIELDS.join(', ')} (or certificate alone)`);
  if (typeof r.name !== 'string' || r.name.length === 0) fail('MALFORMED', `${path}.name is required`, `${path}.name`);
  const alg = r.alg === 'EdDSA' ? ALG_EDDSA : r.alg === 'ES256' ? ALG_ES256 : fail('ALG_NOT_ALLOWED', `${path}.alg must be EdDSA or ES256`, `${path}.alg`);
  if (typeof r.publicKey !== 'string' || !/^([0-9a-f]{2})+$/.test(r.publicKey)) fail('MALFORMED', `${path}.publicKey must be hex`, `${path}.publicKey`);
  const anchor: TrustAnchorInput = { name: r.name, key: publicKey(alg, fromHex(r.publicKey)) };
  const nb = optTime(r.notBefore, `${path}.notBefore`), na = optTime(r.notAfter, `${path}.notAfter`);
  if (nb !== undefined) anchor.notBefore = nb;
  if (na !== undefined) anchor.notAfter = na;
  return anchor;
}

/** Parse a trust file's JSON value. Throws MALFORMED / CHECKPOINT_INVALID / ALG_NOT_ALLOWED with the field path. */
export function parseTrust(json: unknown, opts: { verifier?: SignatureVerifier } = {}): TrustMaterial {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('MALFORMED', 'trust file must be a JSON object', '');
  const t = json as Record<string, unknown>;
  // Closed like its entries: a misspelt `origin` turned off the origin check, a misspelt `clockSkewSeconds` left the
  // default allowance in force, without a word (found by review).
  for (const k of Object.keys(t)) {
    if (!TRUST_FILE_FIELDS.includes(k)) fail('MALFORMED', `the trust file has a field ${JSON.stringify(k.slice(0, 40))} the verifier does not read: it holds ${TRUST_FILE_FIELDS.join(', ')}`, k.slice(0, 40));
  }
  const rootsIn = t.roots ?? [];
  const keysIn = t.checkpointKeys ?? [];
  if (!Array.isArray(rootsIn)) fail('MALFORMED', 'roots must be an array', 'roots');
  if (!Array.isArray(keysIn)) fail('MALFORMED', 'checkpointKeys must be an array', 'checkpointKeys');
  const roots = rootsIn.map((r, i) => rootFrom(r, i, opts.verifier));
  const checkpointKeys = keysIn.map((k, i): CheckpointKey => {
    const path = `checkpointKeys[${i}]`;
    const o = (typeof k === 'string' ? { key: k } : k) as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof o.key !== 'string') fail('MALFORMED', `${path}.key must be a verifier key string`, `${path}.key`);
    onlyFields(o, CHECKPOINT_KEY_FIELDS, path, `a checkpoint key's entry holds ${CHECKPOINT_KEY_FIELDS.join(', ')}`);
    const out: CheckpointKey = { verifier: parseVerifierKey(o.key) };
    const nb = optTime(o.notBefore, `${path}.notBefore`), na = optTime(o.notAfter, `${path}.notAfter`);
    if (nb !== undefined) out.notBefore = nb;
    if (na !== undefined) out.notAfter = na;
    return out;
  });
  const material: TrustMaterial = { anchors: trustAnchors(roots), roots, checkpointKeys };
  if (t.origin !== undefined) {
    if (typeof t.origin !== 'string' || t.origin.length === 0) fail('MALFORMED', 'origin must be text', 'origin');
    material.origin = t.origin;
  }
  if (t.clockSkewSeconds !== undefined) {
    const v = t.clockSkewSeconds;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 86_400) fail('MALFORMED', 'clockSkewSeconds must be whole seconds from 1 to 86400', 'clockSkewSeconds');
    material.clockSkewSeconds = v;
  }
  return material;
}

/**
 * The most bytes a trust file may have: its roots and checkpoint keys take a few kB; a reader stops at this before
 * reading (/dev/zero given by mistake never ends).
 */
export const TRUST_FILE_MAX_BYTES = 4 << 20;

export function parseTrustText(text: string, opts: { verifier?: SignatureVerifier } = {}): TrustMaterial {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // Without the text the parser quotes: a key file given as the trust file by mistake would show part of its secret.
    return fail('MALFORMED', `trust file is not JSON: ${jsonErrorUnquoted(err)}`, '');
  }
  return parseTrust(json, opts);
}

/** Whether `at` (seconds) is within a trust anchor's or checkpoint key's window (notBefore <= at < notAfter). */
export function inTrustWindow(w: { notBefore?: number | undefined; notAfter?: number | undefined }, at: number): boolean {
  return (w.notBefore === undefined || at >= w.notBefore) && (w.notAfter === undefined || at < w.notAfter);
}

/** Checkpoint keys usable at `at` (seconds). */
/**
 * The checkpoint keys for a checkpoint whose block is dated `at` (seconds): valid then (notBefore <= at < notAfter),
 * and whose window has begun by `now` (the verifier's clock): a next key published ahead of its notBefore vouches
 * for nothing before then, however the block is dated.
 */
export function checkpointKeysForBlock(trust: TrustMaterial, at: number, now: number): NoteVerifier[] {
  return trust.checkpointKeys
    .filter((k) => (k.notBefore === undefined || (k.notBefore <= at && k.notBefore <= now)) && (k.notAfter === undefined || at < k.notAfter))
    .map((k) => k.verifier);
}

export function checkpointKeysAt(trust: TrustMaterial, at: number): NoteVerifier[] {
  return trust.checkpointKeys
    .filter((k) => inTrustWindow(k, at))
    .map((k) => k.verifier);
}
