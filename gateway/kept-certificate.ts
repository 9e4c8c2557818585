/**
 * Registered certificates as the registry's view keeps them: the same values as decodeCertificate gives, in about half
 * the memory (bench/registry-memory.ts; README "Capacity"). RegistryView keeps every certificate ever registered, so
 * what one costs sets how many devices a gateway's heap holds.
 */
import type { CertificateClaims, DecodedCertificate, DeviceProfile } from '../protocol/certificate.js';
import { decodeSign1, type Sign1 } from '../protocol/cose-sign1.js';

/**
 * A kid or certRef as the view's map key: one character per byte (node's native latin1, as quick as hex: looked up
 * for every reading), 32 characters where hex takes 64 (~32 bytes less per key, two or three keys per certificate).
 */
export const keyOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/** A copy of `s` that holds no other string (a decoded text is often a slice of a longer one, which it keeps). */
const flat = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/**
 * Where a byte string lies in a certificate's bytes, start * PLACE + end (one small integer: a pair in an array took
 * ~64 bytes; a certificate has at most MAX_CERTIFICATE_BYTES); or, not in them, the byte string.
 */
type Place = number | Uint8Array;
const PLACE = 4096;
const within = (bytes: Uint8Array, p: Place): Uint8Array => (typeof p === 'number' ? bytes.subarray(Math.floor(p / PLACE), p % PLACE) : p);

/**
 * A registered certificate's claims (KeptCertificate): the same values, the two byte strings that nothing on the
 * reading path reads (cti, the device's proof of possession) as views of the certificate's bytes made when asked
 * for, not kept (~0.1 kB each).
 */
class KeptClaims implements CertificateClaims {
  readonly #bytes: Uint8Array;
  readonly #cti: Place;
  readonly #pop: Place | undefined;

  constructor(
    readonly iss: string,
    readonly sub: string,
    readonly iat: number,
    readonly nbf: number,
    readonly exp: number,
    readonly holderKey: CertificateClaims['holderKey'],
    readonly role: CertificateClaims['role'],
    readonly profile: DeviceProfile | undefined,
    bytes: Uint8Array,
    cti: Place,
    pop: Place | undefined,
  ) {
    this.#bytes = bytes;
    this.#cti = cti;
    this.#pop = pop;
  }

  get cti(): Uint8Array {
    return within(this.#bytes, this.#cti);
  }

  get proofOfPossession(): Uint8Array | undefined {
    return this.#pop === undefined ? undefined : within(this.#bytes, this.#pop);
  }
}

/**
 * A registered certificate as the view keeps it, in about half the memory of the decoded one with its map entries
 * (bench/registry-memory.ts; README "Capacity"): its bytes, hash and holder kid in one buffer of its own, the holder
 * key as a view of it (cti and the proof of possession: KeptClaims), the same agency id, issuer kid and device profile
 * shared by all the certificates that carry them (never changed: nothing writes to a certificate's claims), and the
 * COSE_Sign1 structure, needed off the reading path only (checking a chain at a registration, an ES256 certificate's
 * twin encoding), decoded again from the bytes whenever it is asked for (a few µs) rather than kept as a dozen small
 * objects and views. The same values as decodeCertificate gave, in another shape.
 */
class KeptCertificate implements DecodedCertificate {
  constructor(
    readonly bytes: Uint8Array,
    readonly claims: CertificateClaims,
    readonly holderKid: Uint8Array,
    readonly issuerKid: Uint8Array,
    readonly certRef: Uint8Array,
  ) {
    this.holderKey = claims.holderKey;
  }

  readonly holderKey: CertificateClaims['holderKey'];

  /** The bytes passed the strict decode when the certificate was first decoded: the same structure again. */
  get sign1(): Sign1 {
    return decodeSign1(this.bytes, { requireTag: true, what: 'certificate' });
  }
}

/** Makes KeptCertificates, sharing among them the values many carry. One per view (Registry.load builds a new one). */
export class CertificateKeeper {
  /**
   * What registered certificates share (KeptCertificate): agency ids and other texts, issuer kids (by keyOf), device
   * profiles (by kind, reading types and firmware). As many entries as distinct values: few.
   */
  readonly #texts = new Map<string, string>();
  readonly #kids = new Map<string, Uint8Array>();
  readonly #profiles = new Map<string, DeviceProfile>();

  /** `cert` as the view keeps it (KeptCertificate): its values, in less memory. */
  keep(cert: DecodedCertificate): DecodedCertificate {
    if (cert instanceof KeptCertificate) return cert;
    const from = cert.bytes, n = from.length;
    const own = new Uint8Array(n + 64);
    own.set(from);
    own.set(cert.holderKid, n);
    own.set(cert.certRef, n + 32);
    // Decoding leaves the claims' byte strings as views of the certificate's bytes: the same places in the copy
    // (else a copy of their own).
    const placeOf = (v: Uint8Array): Place => {
      const at = v.buffer === from.buffer ? v.byteOffset - from.byteOffset : -1;
      return at >= 0 && at + v.length <= n && n < PLACE ? at * PLACE + (at + v.length) : v.slice();
    };
    const inOwn = (v: Uint8Array): Uint8Array => within(own, placeOf(v));
    const c = cert.claims;
    const holderKey = { alg: c.holderKey.alg, raw: inOwn(c.holderKey.raw) };
    const bytes = own.subarray(0, n);
    const claims = new KeptClaims(
      this.text(c.iss), flat(c.sub), c.iat, c.nbf, c.exp, holderKey, c.role, c.profile && this.profile(c.profile),
      bytes, placeOf(c.cti), c.proofOfPossession && placeOf(c.proofOfPossession),
    );
    return new KeptCertificate(bytes, claims, own.subarray(n, n + 32), this.kid(cert.issuerKid), own.subarray(n + 32, n + 64));
  }

  private text(s: string): string {
    let kept = this.#texts.get(s);
    if (kept === undefined) this.#texts.set(s, (kept = flat(s)));
    return kept;
  }

  private kid(kid: Uint8Array): Uint8Array {
    const key = keyOf(kid);
    let kept = this.#kids.get(key);
    if (kept === undefined) this.#kids.set(key, (kept = kid.slice()));
    return kept;
  }

  private profile(p: DeviceProfile): DeviceProfile {
    const key = `${p.kind}\0${p.readingTypes.join('\0')}\0${keyOf(p.firmware)}`;
    let kept = this.#profiles.get(key);
    if (kept === undefined) this.#profiles.set(key, (kept = { kind: this.text(p.kind), readingTypes: p.readingTypes.map((t) => this.text(t)), firmware: p.firmware.slice() }));
    return kept;
  }
}
