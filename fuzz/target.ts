/**
 * A gateway to fuzz, for `npm run fuzz`: started as `npm start` starts it (startGateway), in a temp dir, on
 * ephemeral loopback ports, with a PKI made now (root -> agency -> device, as test/gateway/harness.ts does), the
 * agency and device registered, and the device's valid signed reading and other signed objects to mutate.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALG_EDDSA, ALG_ES256, generateSecretKey, nobleSigner, type Signer } from '../protocol/algorithms.js';
import { decodeCertificate, issueCertificate, type DecodedCertificate } from '../protocol/certificate.js';
import { keyThumbprint, publicKey } from '../protocol/cose-key.js';
import { deviceIdFromKey, deviceIdToHex } from '../protocol/device-id.js';
import { sha256 } from '../protocol/hash.js';
import { signReading } from '../protocol/reading.js';
import { createRevocation } from '../protocol/revocation.js';
import { createProofOfPossession } from '../protocol/proof-of-possession.js';
import { toBase64, utf8ToBytes } from '../protocol/bytes.js';
import { startGateway, type RunningGateway } from '../gateway/gateway.js';

const DAY = 86_400;
const FIRMWARE = sha256(utf8ToBytes('fuzz firmware'));

/** @noble/curves signers are synchronous; re-signed mutants are made inside (synchronous) arbitraries. */
export type SyncSigner = Omit<Signer, 'sign'> & { sign(m: Uint8Array): Uint8Array };

export interface FuzzTarget {
  gw: RunningGateway;
  deviceId: string;
  device: SyncSigner;
  agency: SyncSigner;
  /** A reading the gateway would accept (never sent as is). */
  validReading: Uint8Array;
  /** A device certificate of the same agency, not registered; a revocation of it. */
  spareCertificate: Uint8Array;
  spareRevocation: Uint8Array;
  stop(): Promise<void>;
}

function syncSigner(alg: typeof ALG_EDDSA | typeof ALG_ES256): SyncSigner {
  const s = nobleSigner(alg, generateSecretKey(alg));
  return { alg: s.alg, publicKey: s.publicKey, sign: (m) => s.sign(m) as Uint8Array };
}

const kidOf = (s: Signer) => keyThumbprint(publicKey(s.alg, s.publicKey));

async function deviceCert(agency: Signer, device: Signer, now: number): Promise<DecodedCertificate> {
  const id = deviceIdToHex(deviceIdFromKey(publicKey(device.alg, device.publicKey)));
  return decodeCertificate(
    await issueCertificate(agency, kidOf(agency), {
      iss: 'fuzz.example', sub: id, role: 'device', holderKey: publicKey(device.alg, device.publicKey), iat: now - DAY, nbf: now - DAY, exp: now + 365 * DAY,
      profile: { kind: 'temperature-sensor', readingTypes: ['temperature', 'biometric'], firmware: FIRMWARE },
      proofOfPossession: await createProofOfPossession(device, { agencyId: 'fuzz.example', nonce: new Uint8Array(16).fill(1), iat: now }),
    }),
  );
}

export async function startFuzzTarget(overrides: Record<string, unknown> = {}): Promise<FuzzTarget> {
  const dir = await mkdtemp(join(tmpdir(), 'op-fuzz-'));
  const now = Math.floor(Date.now() / 1000);
  const root = syncSigner(ALG_EDDSA);
  const rootCert = await issueCertificate(root, kidOf(root), { iss: 'root.example', sub: 'root.example', role: 'root', holderKey: publicKey(root.alg, root.publicKey), iat: now - DAY, nbf: now - DAY, exp: now + 3650 * DAY });
  const agency = syncSigner(ALG_ES256);
  const agencyCert = await issueCertificate(root, kidOf(root), { iss: 'root.example', sub: 'fuzz.example', role: 'agency', holderKey: publicKey(agency.alg, agency.publicKey), iat: now - DAY, nbf: now - DAY, exp: now + 365 * DAY });
  const device = syncSigner(ALG_EDDSA);
  const spare = syncSigner(ALG_EDDSA);
  const [cert, spareCert] = [await deviceCert(agency, device, now), await deviceCert(agency, spare, now)];
  const trustFile = join(dir, 'trust.json');
  await writeFile(trustFile, JSON.stringify({ roots: [{ certificate: toBase64(rootCert) }] }));
  const gw = await startGateway({ dataDir: join(dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile, logLevel: 'silent', verifyWorkers: 0, writeRateLimit: 1_000_000, ...overrides });
  for (const [url, body] of [['/v1/agencies', agencyCert], ['/v1/devices', cert.bytes]] as const) {
    const res = await gw.app.inject({ method: 'POST', url, payload: { certificate: toBase64(body) } });
    if (res.statusCode >= 300) throw new Error(`fuzz target: registering at ${url} failed: ${res.body}`);
  }
  const deviceId = cert.claims.sub;
  const validReading = await signReading(device, {
    deviceId: deviceIdFromKey(publicKey(device.alg, device.publicKey)), seq: 1, iat: now, firmware: FIRMWARE,
    body: { kind: 'sensor', type: 'temperature', value: 215, scale: -1, unit: 'Cel' },
  });
  return {
    gw, deviceId, device, agency, validReading,
    spareCertificate: spareCert.bytes,
    spareRevocation: await createRevocation(agency, spareCert, { reason: 'keyCompromise', revokedFrom: now, iat: now }),
    async stop() {
      await gw.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
