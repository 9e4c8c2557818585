/**
 * An OriginProof device written from firmware-specs/SPEC.md alone, as an outside firmware author would, with public
 * libraries only (cbor-x, @noble/curves, @noble/hashes, mqtt). It imports nothing from protocol/, device-sim/ or
 * gateway/: where it and the gateway disagree, SPEC is ambiguous or one of them is wrong.
 */
import { Decoder, Encoder, Tag } from 'cbor-x';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import mqtt, { type MqttClient } from 'mqtt';

export const EDDSA = -8;
export const ES256 = -7;
export type Alg = typeof EDDSA | typeof ES256;

/** SPEC §3/§4/§2 content types. */
export const CT_READING = 65001;
export const CT_TOKEN = 65003;
export const CT_POP = 65004;

// Deterministic CBOR (SPEC conventions): the device builds every map with its keys already in sorted order.
const enc = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false, useFloat32: 0 } as never);
const dec = new Decoder({ useRecords: false, mapsAsObjects: false } as never);
/** cbor-x writes a JS number over 32 bits as a float64 (the gateway's MALFORMED): such integers go as bigints (1b). */
function ints(v: unknown): unknown {
  if (typeof v === 'number' && Number.isInteger(v) && (v > 0xffffffff || v < -0x100000000)) return BigInt(v);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, ints(x)]));
  if (Array.isArray(v)) return v.map(ints);
  if (v instanceof Tag) return new Tag(ints(v.value), v.tag);
  return v;
}
export const cbor = (v: unknown): Uint8Array => new Uint8Array(enc.encode(ints(v)));
export const uncbor = (b: Uint8Array): unknown => dec.decode(b);

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};
const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** SPEC §1: raw public key (Ed25519 32 bytes; P-256 65 bytes 04||x||y). */
export function rawPublicKey(alg: Alg, secretKey: Uint8Array): Uint8Array {
  return alg === EDDSA ? ed25519.getPublicKey(secretKey) : p256.getPublicKey(secretKey, false);
}

/** SPEC §1: kid = RFC 9679 thumbprint, spelled out byte by byte. */
export function thumbprint(alg: Alg, pub: Uint8Array): Uint8Array {
  if (alg === EDDSA) return sha256(cat(unhex('a301012006215820'), pub));
  return sha256(cat(unhex('a401022001215820'), pub.subarray(1, 33), unhex('225820'), pub.subarray(33, 65)));
}

/** SPEC §1: device id = 01 || kid[0..16]. */
export const deviceIdOf = (kid: Uint8Array): Uint8Array => cat(new Uint8Array([1]), kid.subarray(0, 16));

/** SPEC §3: Sig_structure ["Signature1", protected, h'', payload]. */
export const sigStructure = (protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array =>
  cbor(['Signature1', protectedBytes, new Uint8Array(0), payload]);

/** Verify a tagged COSE_Sign1 under a raw public key; returns its decoded parts or null when it fails. */
export function verifySign1(bytes: Uint8Array, alg: Alg, pub: Uint8Array): { protected: Map<number, unknown>; payload: Map<number, unknown> } | null {
  const t = uncbor(bytes);
  if (!(t instanceof Tag) || t.tag !== 18 || !Array.isArray(t.value) || t.value.length !== 4) return null;
  const [p, , payload, sig] = t.value as [Uint8Array, unknown, Uint8Array, Uint8Array];
  const msg = sigStructure(new Uint8Array(p), new Uint8Array(payload));
  const s = new Uint8Array(sig);
  let ok: boolean;
  try {
    ok = alg === EDDSA ? ed25519.verify(s, msg, pub) : p256.verify(s, msg, pub, { lowS: false });
  } catch {
    ok = false;
  }
  if (!ok) return null;
  return { protected: uncbor(new Uint8Array(p)) as Map<number, unknown>, payload: uncbor(new Uint8Array(payload)) as Map<number, unknown> };
}

export interface SensorBody { type: string; value: number; scale: number; unit: string }
export interface BiometricBody { purpose: string; result: 'match' | 'no-match'; score: number; subjectCommitment: Uint8Array }

/** SPEC §3: subjectCommitment = SHA-256(salt || subject id). */
export const subjectCommitment = (salt: Uint8Array, subjectId: string): Uint8Array => sha256(cat(salt, utf8(subjectId)));

/** Non-volatile memory of the device (SPEC §4, §5): the persisted seq bound and the last connect token's iat. */
export interface Nvm { seqBound: number; lastIat: number }

export interface Answer { topic: 'receipts' | 'rejections'; map: Map<number, unknown>; bytes: Uint8Array }

export class IndependentDevice {
  readonly publicKey: Uint8Array;
  readonly kid: Uint8Array;
  readonly id: Uint8Array;
  readonly idHex: string;
  /** SPEC §5: seq handed out from RAM up to the persisted bound. */
  private nextSeq = 0;
  nvm: Nvm = { seqBound: -1, lastIat: 0 };
  /** SPEC §7: every signed reading kept until its receipt, by seq. */
  readonly kept = new Map<number, Uint8Array>();
  readonly alerts: string[] = [];

  constructor(
    readonly alg: Alg,
    private readonly secretKey: Uint8Array = alg === EDDSA ? ed25519.utils.randomSecretKey() : p256.utils.randomSecretKey(),
    readonly firmware: Uint8Array = sha256(utf8('independent firmware')),
  ) {
    this.publicKey = rawPublicKey(alg, secretKey);
    this.kid = thumbprint(alg, this.publicKey);
    this.id = deviceIdOf(this.kid);
    this.idHex = hex(this.id);
  }

  sign(contentType: number, claims: Map<number, unknown>): Uint8Array {
    const prot = cbor(new Map<number, unknown>([[1, this.alg], [3, contentType], [4, this.kid]]));
    const payload = cbor(claims);
    const msg = sigStructure(prot, payload);
    const sig = this.alg === EDDSA ? ed25519.sign(msg, this.secretKey) : p256.sign(msg, this.secretKey); // ES256: prehash SHA-256
    return cbor(new Tag([prot, new Map(), payload, sig], 18));
  }

  /** SPEC §2: proof of possession {256: id, 3: agency, 10: nonce, 6: iat} (sorted: 3, 6, 10, 256). */
  proofOfPossession(agencyId: string, nonce: Uint8Array, iat: number): Uint8Array {
    return this.sign(CT_POP, new Map<number, unknown>([[3, agencyId], [6, iat], [10, nonce], [256, this.id]]));
  }

  /** SPEC §4: connect token {2: D, 3: aud, 4: exp, 6: iat}, dated later than the last (kept in NVM). */
  connectToken(gatewayId: string, now: number, lifetime = 300): { token: Uint8Array; iat: number } {
    const iat = Math.max(now, this.nvm.lastIat + 1);
    return { token: this.sign(CT_TOKEN, new Map<number, unknown>([[2, this.idHex], [3, gatewayId], [4, iat + lifetime], [6, iat]])), iat };
  }

  /** SPEC §5: persist before send, in blocks of N. */
  allocateSeq(n = 100): number {
    if (this.nextSeq > this.nvm.seqBound) this.nvm = { ...this.nvm, seqBound: this.nextSeq + n };
    return this.nextSeq++;
  }

  /** SPEC §5 on boot: persisted value plus a safety gap. */
  reboot(gap = 100): void {
    this.nextSeq = this.nvm.seqBound + gap;
  }

  /** SPEC §3 claims, keys in their sorted order: 6, 256, -65539, -65540, then the body. */
  readingClaims(seq: number, iat: number, body: SensorBody | BiometricBody, fwm = this.firmware): Map<number, unknown> {
    const m = new Map<number, unknown>([[6, iat], [256, this.id], [-65539, seq], [-65540, fwm]]);
    if ('type' in body) m.set(-65541, new Map<number, unknown>([[1, body.type], [2, body.value], [3, body.scale], [4, body.unit]]));
    else m.set(-65542, new Map<number, unknown>([[1, body.purpose], [2, body.result], [3, body.score], [4, body.subjectCommitment]]));
    return m;
  }

  /** Sign a new reading and keep it until its receipt (SPEC §5, §7). */
  newReading(iat: number, body: SensorBody | BiometricBody): { seq: number; bytes: Uint8Array } {
    const seq = this.allocateSeq();
    const bytes = this.sign(CT_READING, this.readingClaims(seq, iat, body));
    this.kept.set(seq, bytes);
    return { seq, bytes };
  }

  signReadingClaims(claims: Map<number, unknown>): Uint8Array {
    return this.sign(CT_READING, claims);
  }

  readingsTopic = (): string => `op/v1/d/${this.idHex}/readings`;

  /** SPEC §4: connect with client id = username = D, password = connect token; subscribe before publishing. */
  async connect(url: string, gatewayId: string, now = Math.floor(Date.now() / 1000)): Promise<Session> {
    const { token, iat } = this.connectToken(gatewayId, now);
    const client = await mqtt.connectAsync(url, {
      clientId: this.idHex, username: this.idHex, password: Buffer.from(token), protocolVersion: 4, clean: false, reconnectPeriod: 0, connectTimeout: 5000,
    });
    this.nvm = { ...this.nvm, lastIat: iat }; // CONNACK 0: token taken
    const s = new Session(this, client);
    await client.subscribeAsync([`op/v1/d/${this.idHex}/receipts`, `op/v1/d/${this.idHex}/rejections`], { qos: 1 });
    return s;
  }

  /** A CONNECT with a given token; the CONNACK code (0 when accepted). Moves the kept iat only as SPEC §4 says. */
  async connackFor(url: string, token: Uint8Array, iat: number): Promise<number> {
    try {
      const c = await mqtt.connectAsync(url, { clientId: this.idHex, username: this.idHex, password: Buffer.from(token), protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
      this.nvm = { ...this.nvm, lastIat: iat };
      await c.endAsync(true);
      return 0;
    } catch (err) {
      const code = (err as { code?: number }).code ?? -1;
      if (code === 3 || code === -1) this.nvm = { ...this.nvm, lastIat: Math.max(this.nvm.lastIat, iat) }; // maybe taken
      return code;
    }
  }

  /** What SPEC §8 says to do with the kept reading on a rejection code. */
  handleRejection(seq: number | null, code: string): Action {
    const action = ACTIONS[code] ?? 'drop';
    if (seq !== null && (action === 'drop' || action === 'drop-jump-seq' || action === 'stop')) this.kept.delete(seq);
    if (action === 'drop-jump-seq') this.reboot();
    if (code !== 'UNAVAILABLE' && code !== 'STORAGE_UNAVAILABLE' && code !== 'CLOCK_SKEW') this.alerts.push(code);
    return action;
  }
}

export type Action = 'drop' | 'drop-jump-seq' | 'keep-resend' | 'stop' | 'keep-resend-topic' | 'resync-drop';
/** SPEC §8 table, device action column, for the codes that arrive on the rejections topic. */
export const ACTIONS: Record<string, Action> = {
  MALFORMED: 'drop', TOO_LARGE: 'drop', BAD_SIGNATURE: 'drop', UNKNOWN_KEY: 'drop', ALG_NOT_ALLOWED: 'drop', CLAIM_INVALID: 'drop',
  BIOMETRIC_RAW_DATA: 'drop', TYPE_NOT_ALLOWED: 'drop', FIRMWARE_MISMATCH: 'drop', CERT_EXPIRED: 'stop', CERT_REVOKED: 'stop',
  CHAIN_INVALID: 'stop', ROLE_VIOLATION: 'stop', REPLAY: 'drop-jump-seq', CLOCK_SKEW: 'resync-drop', TOPIC_MISMATCH: 'keep-resend-topic',
  UNAVAILABLE: 'keep-resend', STORAGE_UNAVAILABLE: 'keep-resend',
};

export class Session {
  readonly answers: Answer[] = [];
  private waiters: ((a: Answer) => void)[] = [];
  private read = 0;
  closed = false;
  constructor(readonly device: IndependentDevice, readonly client: MqttClient) {
    client.on('close', () => (this.closed = true));
    client.on('message', (topic, payload) => {
      const bytes = new Uint8Array(payload);
      const a: Answer = { topic: topic.endsWith('/receipts') ? 'receipts' : 'rejections', map: uncbor(bytes) as Map<number, unknown>, bytes };
      this.answers.push(a);
      const w = this.waiters.shift();
      if (w) (this.read++, w(a));
    });
  }
  publish(bytes: Uint8Array, topic = this.device.readingsTopic()): Promise<unknown> {
    return this.client.publishAsync(topic, Buffer.from(bytes), { qos: 1 });
  }
  next(ms = 5000): Promise<Answer> {
    if (this.read < this.answers.length) return Promise.resolve(this.answers[this.read++]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      this.waiters.push((a) => (clearTimeout(timer), resolve(a)));
    });
  }
  async send(bytes: Uint8Array, topic?: string): Promise<Answer> {
    await this.publish(bytes, topic);
    return this.next();
  }
  end(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** SPEC §4 / C2SP note verifier key `<name>+<key id hex8>+<base64 of 0x01 || Ed25519 key>`. */
export function parseVerifierKey(vkey: string): { name: string; keyId: Uint8Array; publicKey: Uint8Array } {
  // the name holds no '+', the base64 may: split at the first two
  const i = vkey.indexOf('+');
  const j = vkey.indexOf('+', i + 1);
  const [name, id, b64] = [vkey.slice(0, i), vkey.slice(i + 1, j), vkey.slice(j + 1)];
  const raw = new Uint8Array(Buffer.from(b64, 'base64'));
  if (raw[0] !== 1 || raw.length !== 33) throw new Error(`not an Ed25519 note key: ${vkey}`);
  const publicKey = raw.subarray(1);
  const keyId = sha256(cat(utf8(name), new Uint8Array([0x0a, 0x01]), publicKey)).subarray(0, 4);
  if (hex(keyId) !== id) throw new Error('key id does not match');
  return { name, keyId, publicKey };
}

/** SPEC §7: check a receipt against the kept reading. */
export function checkReceipt(receipt: Map<number, unknown>, reading: Uint8Array, verifierKey: string): 'OK' | 'INCLUSION_INVALID' | 'CHECKPOINT_INVALID' {
  const index = receipt.get(2) as number;
  const entry = cbor(new Map<number, unknown>([[1, 1], [2, index], [3, receipt.get(3)], [4, reading], [5, new Uint8Array(receipt.get(4) as Uint8Array)]]));
  if (!equal(sha256(cat(new Uint8Array([0]), entry)), new Uint8Array(receipt.get(5) as Uint8Array))) return 'INCLUSION_INVALID';
  return checkCheckpoint(receipt.get(6) as string, verifierKey, index);
}

/** C2SP signed note: body, blank line, signature lines "— name base64(keyid || sig)". The tree size is line 2. */
export function checkCheckpoint(note: string, verifierKey: string, index: number): 'OK' | 'CHECKPOINT_INVALID' {
  const { name, keyId, publicKey } = parseVerifierKey(verifierKey);
  const cut = note.lastIndexOf('\n\n');
  if (cut < 0) return 'CHECKPOINT_INVALID';
  const body = note.slice(0, cut + 1);
  const lines = body.split('\n');
  if (lines[0] !== name && !lines[0]) return 'CHECKPOINT_INVALID';
  const size = lines[1] ?? '';
  if (!/^(0|[1-9][0-9]*)$/.test(size) || !(Number(size) > index)) return 'CHECKPOINT_INVALID';
  const sigs = note.slice(cut + 2).split('\n').filter((l) => l !== '');
  for (const line of sigs) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const raw = new Uint8Array(Buffer.from(m[2]!, 'base64'));
    if (raw.length !== 68 || !equal(raw.subarray(0, 4), keyId)) continue;
    try {
      if (ed25519.verify(raw.subarray(4), utf8(body), publicKey)) return 'OK';
    } catch {
      /* not a signature */
    }
  }
  return 'CHECKPOINT_INVALID';
}

/** Whether the note carries a verifying signature line of `verifierKey` (any other line is skipped). */
function signedBy(note: string, verifierKey: string): boolean {
  const { name, keyId, publicKey } = parseVerifierKey(verifierKey);
  const cut = note.lastIndexOf('\n\n');
  if (cut < 0) return false;
  const body = note.slice(0, cut + 1);
  return note.slice(cut + 2).split('\n').some((line) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) return false;
    const raw = new Uint8Array(Buffer.from(m[2]!, 'base64'));
    if (raw.length !== 68 || !equal(raw.subarray(0, 4), keyId)) return false;
    try {
      return ed25519.verify(raw.subarray(4), utf8(body), publicKey);
    } catch {
      return false;
    }
  });
}

/**
 * SPEC §7, a new checkpoint key: the keys the device holds after a receipt whose checkpoint `note` checked. Signed by
 * the current key, the note decides the next key (the one its `next-key` line names, if that key signed it too);
 * signed by the next key alone, it makes the next key current (then its own `next-key` line decides again).
 */
export function followKeys(note: string, held: { current: string; next: string | null }): { current: string; next: string | null } | 'CHECKPOINT_INVALID' {
  let current = held.current;
  if (!signedBy(note, current)) {
    if (!held.next || !signedBy(note, held.next)) return 'CHECKPOINT_INVALID';
    current = held.next;
  }
  const body = note.slice(0, note.lastIndexOf('\n\n'));
  const named = body.split('\n').slice(3).filter((l) => l.startsWith('next-key '));
  const next = named.length === 1 && named[0]!.split(' ').length === 2 ? named[0]!.slice('next-key '.length) : null;
  let signs = false;
  try {
    signs = next !== null && next !== current && signedBy(note, next);
  } catch {
    signs = false; // not a verifier key
  }
  return { current, next: signs ? next : null };
}

