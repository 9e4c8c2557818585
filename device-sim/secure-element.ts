/**
 * The signer boundary of a simulated device (firmware-specs/SPEC.md §1): a `SecureElement` signs and shows its
 * public key, nothing else; the secret never crosses it. In Node the key is a node:crypto KeyObject (fast, and
 * not even readable as bytes through this interface); elsewhere @noble/curves is the fallback.
 * Persistence stands in for the element's own non-volatile storage: a PKCS#8 file (mode 0600) next to the
 * device state, read only by `loadSecureElement`.
 */
import * as nodeCrypto from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { ALG_EDDSA, ALG_ES256, fail, generateSecretKey, nobleSigner, toHex, type Alg, type Signer } from '../protocol/index.js';
import { checkStatedPublicKey, KEY_FILE_MAX_BYTES, readJsonFile, secretKeyHex } from './json-file.js';

export interface SecureElement extends Signer {
  readonly alg: Alg;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

const hasNodeCrypto = typeof nodeCrypto.generateKeyPairSync === 'function' && typeof process !== 'undefined' && !!process.versions?.node;

function b64url(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

function rawPublicKey(alg: Alg, pub: nodeCrypto.KeyObject): Uint8Array {
  const jwk = pub.export({ format: 'jwk' });
  if (alg === ALG_EDDSA) return b64url(jwk.x!);
  const out = new Uint8Array(65);
  out[0] = 0x04;
  out.set(b64url(jwk.x!), 1);
  out.set(b64url(jwk.y!), 33);
  return out;
}

/** node:crypto KeyObject behind the boundary. Ed25519: RFC 8032; ES256: IEEE P1363 r||s (64 bytes), random k. */
class NodeSecureElement implements SecureElement {
  readonly publicKey: Uint8Array;
  readonly #key: nodeCrypto.KeyObject;
  constructor(readonly alg: Alg, key: nodeCrypto.KeyObject) {
    this.#key = key;
    this.publicKey = rawPublicKey(alg, nodeCrypto.createPublicKey(key));
  }
  sign(message: Uint8Array): Uint8Array {
    if (this.alg === ALG_EDDSA) return new Uint8Array(nodeCrypto.sign(null, message, this.#key));
    return new Uint8Array(nodeCrypto.sign('sha256', message, { key: this.#key, dsaEncoding: 'ieee-p1363' }));
  }
  /** Sealed storage of the element (simulation only). */
  seal(): string {
    return JSON.stringify({ backend: 'node', alg: this.alg, pkcs8: (this.#key.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64'), publicKey: toHex(this.publicKey) });
  }
}

class NobleSecureElement implements SecureElement {
  readonly alg: Alg;
  readonly publicKey: Uint8Array;
  readonly #signer: Signer;
  readonly #secret: Uint8Array;
  constructor(alg: Alg, secret: Uint8Array) {
    this.#signer = nobleSigner(alg, secret);
    this.#secret = secret;
    this.alg = alg;
    this.publicKey = this.#signer.publicKey;
  }
  sign(message: Uint8Array): Promise<Uint8Array> | Uint8Array {
    return this.#signer.sign(message);
  }
  seal(): string {
    return JSON.stringify({ backend: 'noble', alg: this.alg, secretKey: toHex(this.#secret), publicKey: toHex(this.publicKey) });
  }
}

export type SecureElementBackend = 'node' | 'noble';

/** Generate a key inside a new element. */
export function createSecureElement(alg: Alg, backend: SecureElementBackend = hasNodeCrypto ? 'node' : 'noble'): SecureElement {
  if (backend === 'node') {
    const { privateKey } = alg === ALG_EDDSA ? nodeCrypto.generateKeyPairSync('ed25519') : nodeCrypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return new NodeSecureElement(alg, privateKey);
  }
  return new NobleSecureElement(alg, generateSecretKey(alg));
}

/**
 * Write the element's sealed storage, mode 0600, atomically: a temp file (created 0600, written and synced), then
 * renamed over `path`, so a crash leaves the old key file or the new one, never a truncated key.
 */
export function saveSecureElement(se: SecureElement, path: string): void {
  if (!(se instanceof NodeSecureElement) && !(se instanceof NobleSecureElement)) throw new Error('this secure element cannot be persisted');
  const tmp = `${path}.${process.pid}.${nodeCrypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeFileSync(fd, se.seal() + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * The element sealed in `path`. Its `publicKey` (hex; written by saveSecureElement since it was added) is checked
 * against the key when there (json-file.ts checkStatedPublicKey: MALFORMED, nothing quoted), and a PKCS#8 key must be
 * of its alg's type: an Ed25519 seed read as a P-256 scalar, or a damaged key, would sign as another device.
 */
export function loadSecureElement(path: string): SecureElement {
  const j = readJsonFile(path, 'sealed key file', { secret: true, maxBytes: KEY_FILE_MAX_BYTES }) as { backend: SecureElementBackend; alg: number; pkcs8?: string; secretKey?: string; publicKey?: unknown } | null;
  if (j === null || typeof j !== 'object') fail('MALFORMED', `${path} is not a sealed key file`, path);
  const alg = j.alg === ALG_EDDSA ? ALG_EDDSA : j.alg === ALG_ES256 ? ALG_ES256 : fail('MALFORMED', `${path}: unknown alg ${String(j.alg)}`, path);
  let se: SecureElement;
  if (j.pkcs8 !== undefined && typeof j.pkcs8 !== 'string') fail('MALFORMED', `${path}: its pkcs8 key is not base64 text`, path);
  if (j.backend === 'node' && j.pkcs8 && hasNodeCrypto) {
    const key = privateKeyOf(j.pkcs8, path);
    const ofAlg = alg === ALG_EDDSA ? key.asymmetricKeyType === 'ed25519' : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    if (!ofAlg) fail('MALFORMED', `${path}: its pkcs8 key is not ${alg === ALG_EDDSA ? 'an Ed25519' : 'a P-256'} key, as its alg says`, path);
    se = new NodeSecureElement(alg, key);
  } else if (j.secretKey) {
    se = new NobleSecureElement(alg, secretKeyHex(j.secretKey, path, 32));
  } else if (j.backend === 'node' && j.pkcs8) {
    throw new Error(`${path}: cannot open this secure element here (node:crypto is not available)`);
  } else {
    return fail('MALFORMED', `${path}: holds no key (neither pkcs8 nor secretKey)`, path);
  }
  checkStatedPublicKey(j.publicKey, se.publicKey, path);
  return se;
}

/**
 * A sealed key's PKCS#8 (base64 DER) as a node KeyObject; one node cannot read is MALFORMED naming the file, node's
 * error (OpenSSL's, no code of ours) not chained: nothing of the key is quoted.
 */
function privateKeyOf(pkcs8: string, path: string): nodeCrypto.KeyObject {
  try {
    return nodeCrypto.createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    return fail('MALFORMED', `${path}: its pkcs8 key is not a PKCS#8 private key`, path);
  }
}

export function algFromName(name: string): Alg {
  const n = name.toLowerCase();
  if (n === 'ed25519' || n === 'eddsa') return ALG_EDDSA;
  if (n === 'es256' || n === 'p256' || n === 'p-256') return ALG_ES256;
  throw new Error(`unknown algorithm ${name} (ed25519 or es256)`);
}
