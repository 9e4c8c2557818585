/**
 * The agency side of onboarding (SPEC §2): a challenge nonce, the proof-of-possession check, the device
 * certificate, and the registry calls to the gateway's HTTP API (registration, revocation). The agency's own
 * key is an ordinary signer (it is not a device); its key file is the `originproof keys generate` format.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createRevocation, decodeCertificate, fail, issueCertificate, nobleSigner, toBase64, toHex,
  verifyProofOfPossession, type DecodedCertificate, type DeviceProfile, type PublicKey, type RevocationReason, type Signer,
} from '../protocol/index.js';
import { checkStatedPublicKey, KEY_FILE_MAX_BYTES, keyFileAlg, readJsonFile, secretKeyHex } from './json-file.js';

const DAY = 86_400;
const nowS = () => Math.floor(Date.now() / 1000);

export class HttpError extends Error {
  constructor(readonly status: number, readonly body: unknown, what: string) {
    super(`${what}: HTTP ${status} ${JSON.stringify(body)}`);
  }
}

export async function postJson(url: string, body: unknown, what: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.status >= 300) throw new HttpError(res.status, json, what);
  return json;
}

export async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  if (res.status >= 300) throw new HttpError(res.status, await res.text(), `GET ${url}`);
  return (await res.json()) as Record<string, unknown>;
}

/** The gateway's checkpoint verifier key, as published on GET /v1/log (the installer provisions it). */
export async function fetchCheckpointKey(httpUrl: string): Promise<string> {
  return String((await getJson(`${httpUrl}/v1/log`)).verifierKey);
}

/**
 * The gateway id (`aud` of connect tokens, firmware-specs/SPEC.md §2.4) the gateway publishes on `GET /v1/log` as
 * `gatewayId`; undefined when it does not say (a gateway from before it did), and the caller falls back to DEFAULT_AUD.
 */
export async function fetchGatewayId(httpUrl: string): Promise<string | undefined> {
  const id = (await getJson(`${httpUrl.replace(/\/$/, '')}/v1/log`)).gatewayId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * The MQTT URL a device should use, from the gateway's `GET /v1/log`: MQTT over TLS where the gateway offers it
 * (firmware-specs/SPEC.md §4), else plain MQTT; 1883 on the HTTP host if the gateway does not say.
 */
export async function fetchMqttUrl(httpUrl: string): Promise<string> {
  const mqtt = (await getJson(`${httpUrl.replace(/\/$/, '')}/v1/log`)).mqtt as { port?: unknown; tlsPort?: unknown } | null | undefined;
  const host = new URL(httpUrl).hostname;
  if (typeof mqtt?.tlsPort === 'number') return `mqtts://${host}:${mqtt.tlsPort}`;
  const port = typeof mqtt?.port === 'number' ? mqtt.port : 1883;
  return `mqtt://${host}:${port}`;
}

export class Agency {
  /** Salt for fingerprint readers' subject commitments; provisioned to devices, never sent. */
  readonly salt: Uint8Array;
  private readonly nonces = new Set<string>();

  constructor(readonly signer: Signer, readonly cert: DecodedCertificate, salt?: Uint8Array) {
    if (cert.claims.role !== 'agency') throw new Error('an agency needs an agency certificate');
    this.salt = salt ?? new Uint8Array(randomBytes(32));
  }

  get id(): string {
    return this.cert.claims.sub;
  }

  /** Key file ({"alg": "ed25519"|"es256", "secretKey": hex, "publicKey": hex (checked when there)}) and certificate file. */
  static load(keyFile: string, certFile: string): Agency {
    const j = readJsonFile(keyFile, 'key file', { secret: true, maxBytes: KEY_FILE_MAX_BYTES }) as { alg?: unknown; secretKey?: unknown; publicKey?: unknown } | null;
    if (!j?.alg || !j.secretKey) fail('MALFORMED', `${keyFile} is not a key file`, keyFile);
    const signer = nobleSigner(keyFileAlg(j.alg, keyFile), secretKeyHex(j.secretKey, keyFile, 32));
    checkStatedPublicKey(j.publicKey, signer.publicKey, keyFile);
    return new Agency(signer, decodeCertificate(new Uint8Array(readFileSync(certFile))));
  }

  /** Step 2: a fresh nonce for the device to sign. */
  challenge(): Uint8Array {
    const n = new Uint8Array(randomBytes(16));
    this.nonces.add(toBase64(n));
    return n;
  }

  /** Step 3: check the proof of possession against the presented key and the nonce, then issue the certificate. */
  async certify(key: PublicKey, pop: Uint8Array, nonce: Uint8Array, profile: DeviceProfile, window: { nbf?: number; exp?: number; days?: number } = {}): Promise<DecodedCertificate> {
    if (!this.nonces.delete(toBase64(nonce))) throw new Error('unknown or used challenge');
    const claims = verifyProofOfPossession(pop, key, { agencyId: this.id, nonce, now: nowS() });
    const t = nowS();
    const bytes = await issueCertificate(this.signer, this.cert.holderKid, {
      iss: this.id, sub: toHex(claims.deviceId), role: 'device', holderKey: key, iat: t,
      nbf: window.nbf ?? t - 60, exp: window.exp ?? t + (window.days ?? 365) * DAY, profile,
      proofOfPossession: pop, // the device's consent, which the gateway requires (SPEC §2 step 3)
    });
    return decodeCertificate(bytes);
  }

  registerSelf(httpUrl: string): Promise<Record<string, unknown>> {
    return postJson(`${httpUrl}/v1/agencies`, { certificate: toBase64(this.cert.bytes) }, `register agency ${this.id}`);
  }

  registerDevice(httpUrl: string, cert: DecodedCertificate): Promise<Record<string, unknown>> {
    return postJson(`${httpUrl}/v1/devices`, { certificate: toBase64(cert.bytes) }, `register device ${cert.claims.sub}`);
  }

  async revoke(httpUrl: string, cert: DecodedCertificate, opts: { revokedFrom?: number; reason?: RevocationReason } = {}): Promise<Record<string, unknown>> {
    const t = nowS();
    const bytes = await createRevocation(this.signer, cert, { reason: opts.reason ?? 'keyCompromise', revokedFrom: opts.revokedFrom ?? t, iat: t });
    return postJson(`${httpUrl}/v1/revocations`, { revocation: toBase64(bytes) }, `revoke ${cert.claims.sub}`);
  }
}
