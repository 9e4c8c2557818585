/**
 * COSE_Sign1 (RFC 9052 §4.2) with the Sig_structure of §4.4:
 *   COSE_Sign1 = #6.18([protected: bstr .cbor header_map, unprotected: header_map, payload: bstr, signature: bstr])
 *   Sig_structure = ["Signature1", body_protected, external_aad, payload]
 * Signatures are always checked over the protected-header bytes exactly as received.
 */
import { nobleVerify, assertAlg, type Alg, type Signer, type SignatureVerifier, SUPPORTED_ALGS } from './algorithms.js';
import { decode, decodeStrict, encode, Tag } from './cbor.js';
import { bytesEqual } from './bytes.js';
import { fail } from './errors.js';
import type { PublicKey } from './cose-key.js';

export const COSE_SIGN1_TAG = 18;
/** Header labels (RFC 9052 §3.1). */
export const HDR_ALG = 1, HDR_CONTENT_TYPE = 3, HDR_KID = 4;

export interface Sign1 {
  /** The protected header bucket exactly as received (a bstr wrapping a map, or empty). */
  protectedBytes: Uint8Array;
  protectedHeaders: Map<unknown, unknown>;
  unprotectedHeaders: Map<unknown, unknown>;
  payload: Uint8Array;
  signature: Uint8Array;
  /** alg from the protected bucket (or unprotected, where `allowUnprotectedAlg`) */
  alg: number | undefined;
  kid: Uint8Array | undefined;
  contentType: number | string | undefined;
}

const EMPTY = new Uint8Array(0);

export function sigStructure(protectedBytes: Uint8Array, externalAad: Uint8Array, payload: Uint8Array): Uint8Array {
  return encode(['Signature1', protectedBytes, externalAad, payload]);
}

export interface CreateSign1Options {
  signer: Signer;
  payload: Uint8Array;
  kid?: Uint8Array;
  contentType?: number | string;
  externalAad?: Uint8Array;
  unprotected?: Map<number, unknown>;
}

/** Sign and return the tagged COSE_Sign1 bytes. Protected header: alg, content type, kid (deterministic). */
export async function createSign1(opts: CreateSign1Options): Promise<Uint8Array> {
  const { signer, payload } = opts;
  const prot = new Map<number, unknown>([[HDR_ALG, signer.alg]]);
  if (opts.contentType !== undefined) prot.set(HDR_CONTENT_TYPE, opts.contentType);
  if (opts.kid !== undefined) prot.set(HDR_KID, opts.kid);
  const protectedBytes = encode(prot);
  const tbs = sigStructure(protectedBytes, opts.externalAad ?? EMPTY, payload);
  const signature = await signer.sign(tbs);
  return encode(new Tag([protectedBytes, opts.unprotected ?? new Map(), payload, signature], COSE_SIGN1_TAG));
}

export interface DecodeSign1Options {
  /** Require the #6.18 tag (our envelopes always carry it). Default true. */
  requireTag?: boolean;
  /** Require deterministic encoding of the whole structure (our own envelopes). Default false. */
  strict?: boolean;
  /** Accept alg in the unprotected bucket (some published examples do). Default false. */
  allowUnprotectedAlg?: boolean;
  what?: string;
  /** With `strict`: reuse a protected bucket decoded before from the same bytes (see ProtectedHeaderCache). */
  protectedCache?: ProtectedHeaderCache;
}

/**
 * Decoded protected buckets by their bytes. A device puts the same bucket (alg, content type, kid) on every
 * reading, so a receiver of many envelopes from one sender can keep what it decoded and skip decoding and strictly
 * re-encoding the same bytes again: decoding is deterministic, so identical bytes give an identical map. Only
 * buckets that passed the strict decode are remembered; the maps handed out are shared and must not be changed.
 */
export interface ProtectedHeaderCache {
  lookup(bytes: Uint8Array): Map<unknown, unknown> | undefined;
  remember(bytes: Uint8Array, headers: Map<unknown, unknown>): void;
}

/** The last protected bucket seen (one sender's): a copy of its bytes and its decoded map. */
export class LastProtectedHeader implements ProtectedHeaderCache {
  private bytes: Uint8Array | undefined;
  private headers: Map<unknown, unknown> | undefined;

  lookup(bytes: Uint8Array): Map<unknown, unknown> | undefined {
    return this.bytes !== undefined && bytesEqual(bytes, this.bytes) ? this.headers : undefined;
  }

  remember(bytes: Uint8Array, headers: Map<unknown, unknown>): void {
    this.bytes = bytes.slice(); // a copy: `bytes` is usually a view into a larger received buffer
    this.headers = headers;
  }
}

export function decodeSign1(bytes: Uint8Array, opts: DecodeSign1Options = {}): Sign1 {
  const what = opts.what ?? 'COSE_Sign1';
  let value = opts.strict ? decodeStrict(bytes, what) : decode(bytes, what);
  if (value instanceof Tag) {
    if (value.tag !== COSE_SIGN1_TAG) fail('MALFORMED', `${what} has tag ${value.tag}, expected 18 (COSE_Sign1)`, 'tag');
    value = value.value;
  } else if (opts.requireTag ?? true) {
    fail('MALFORMED', `${what} must carry the COSE_Sign1 tag 18`, 'tag');
  }
  if (!Array.isArray(value) || value.length !== 4) fail('MALFORMED', `${what} must be an array of 4 items`);
  const [protectedBytes, unprotected, payload, signature] = value as unknown[];
  if (!(protectedBytes instanceof Uint8Array)) fail('MALFORMED', 'protected header must be a byte string', 'protected');
  if (!(unprotected instanceof Map)) fail('MALFORMED', 'unprotected header must be a map', 'unprotected');
  if (!(payload instanceof Uint8Array)) fail('MALFORMED', 'payload must be a byte string (detached payloads are not used)', 'payload');
  if (!(signature instanceof Uint8Array)) fail('MALFORMED', 'signature must be a byte string', 'signature');
  let protectedHeaders = new Map<unknown, unknown>();
  if (protectedBytes.length > 0) {
    const cache = opts.strict ? opts.protectedCache : undefined;
    const cached = cache?.lookup(protectedBytes);
    if (cached) protectedHeaders = cached;
    else {
      const p = opts.strict ? decodeStrict(protectedBytes, 'protected header') : decode(protectedBytes, 'protected header');
      if (!(p instanceof Map)) fail('MALFORMED', 'protected header must encode a map', 'protected');
      protectedHeaders = p;
      cache?.remember(protectedBytes, p);
    }
  }
  for (const label of protectedHeaders.keys()) {
    if (unprotected.has(label)) fail('MALFORMED', `header ${String(label)} appears in both buckets (RFC 9052 §3)`, 'unprotected');
  }
  let alg = protectedHeaders.get(HDR_ALG);
  if (alg === undefined && opts.allowUnprotectedAlg) alg = unprotected.get(HDR_ALG);
  const kid = protectedHeaders.get(HDR_KID) ?? unprotected.get(HDR_KID);
  if (kid !== undefined && !(kid instanceof Uint8Array)) fail('MALFORMED', 'kid must be a byte string', 'protected.kid');
  const ct = protectedHeaders.get(HDR_CONTENT_TYPE);
  if (ct !== undefined && typeof ct !== 'number' && typeof ct !== 'string') fail('MALFORMED', 'content type must be uint or text', 'protected.content_type');
  return {
    protectedBytes,
    protectedHeaders,
    unprotectedHeaders: unprotected,
    payload,
    signature,
    alg: typeof alg === 'number' ? alg : alg === undefined ? undefined : NaN,
    kid: kid as Uint8Array | undefined,
    contentType: ct as number | string | undefined,
  };
}

export interface VerifySign1Options {
  externalAad?: Uint8Array;
  verifier?: SignatureVerifier;
  allowedAlgs?: readonly Alg[];
}

/** Throws ALG_NOT_ALLOWED (alg missing/unknown/not the key's) or BAD_SIGNATURE. */
export function verifySign1(sign1: Sign1, key: PublicKey, opts: VerifySign1Options = {}): void {
  if (sign1.alg === undefined) fail('ALG_NOT_ALLOWED', 'protected header has no alg', 'protected.alg');
  const alg = assertAlg(sign1.alg, 'protected.alg', opts.allowedAlgs ?? SUPPORTED_ALGS);
  if (alg !== key.alg) fail('ALG_NOT_ALLOWED', 'alg does not match the signing key', 'protected.alg');
  // RFC 9052 §4.4: "If there are no protected attributes, a zero-length byte string is used" in the Sig_structure,
  // and §3 asks recipients to accept h'a0' (an empty map) as well as h'' for an empty protected bucket.
  const bodyProtected = sign1.protectedHeaders.size === 0 ? EMPTY : sign1.protectedBytes;
  const tbs = sigStructure(bodyProtected, opts.externalAad ?? EMPTY, sign1.payload);
  const ok = (opts.verifier ?? nobleVerify)(alg, key.raw, tbs, sign1.signature);
  if (!ok) fail('BAD_SIGNATURE', 'signature does not verify', 'signature');
}
