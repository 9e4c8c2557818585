/**
 * The benches' trust and devices: a root (its certificate in the gateway's trust file), an agency registered over the
 * HTTP API, devices with temperature-sensor profiles, and the readings they sign. Shared by the end-to-end bench
 * (bench/e2e.ts, whose publisher signs with `benchReading`) and the pipeline bench (bench/pipeline.ts), so that both
 * measure the same readings.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ALG_EDDSA, generateSecretKey, toHex, toBase64, deviceIdFromKey, deviceIdToHex, publicKey, keyThumbprint, issueCertificate, createProofOfPossession, sha256, signReading, utf8ToBytes, type Alg, type Signer } from '../protocol/index.js';
import { nodeSigner } from './node-signer.js';

export type Post = (path: string, body: object) => Promise<{ status: number; text: string }>;

/** The firmware digest every bench device's profile allows and every bench reading names. */
export const FIRMWARE = sha256(utf8ToBytes('bench firmware'));

/** A bench device: its id (hex), algorithm and secret key (hex, to cross a process boundary). */
export interface BenchDevice {
  id: string;
  alg: Alg;
  secret: string;
}

const kid = (s: Signer) => keyThumbprint(publicKey(s.alg, s.publicKey));

/** A new root key, and a trust file naming its certificate at `dir/trust.json` (the gateway's trustFile). */
export async function benchRoot(dir: string): Promise<Signer> {
  const root = nodeSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  const t = Math.floor(Date.now() / 1000);
  const rootCert = await issueCertificate(root, kid(root), { iss: 'root.bench', sub: 'root.bench', role: 'root', holderKey: publicKey(root.alg, root.publicKey), iat: t, nbf: t - 60, exp: t + 86_400 });
  await writeFile(join(dir, 'trust.json'), JSON.stringify({ roots: [{ certificate: toBase64(rootCert) }] }));
  return root;
}

/** An agency certified by `root` and `n` devices certified by it, all registered through `post` (the HTTP API). */
export async function makeFleet(post: Post, root: Signer, alg: Alg, n: number, agencyId: string): Promise<BenchDevice[]> {
  const t = Math.floor(Date.now() / 1000);
  const agency = nodeSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  const agencyCert = await issueCertificate(root, kid(root), { iss: 'root.bench', sub: agencyId, role: 'agency', holderKey: publicKey(agency.alg, agency.publicKey), iat: t, nbf: t - 60, exp: t + 86_400 });
  const reg = await post('/v1/agencies', { certificate: toBase64(agencyCert) });
  if (reg.status >= 300) throw new Error(reg.text);
  const devices: BenchDevice[] = [];
  const certs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const secret = generateSecretKey(alg);
    const signer = nodeSigner(alg, secret);
    const id = deviceIdToHex(deviceIdFromKey(publicKey(alg, signer.publicKey)));
    certs.push(
      await issueCertificate(agency, kid(agency), {
        iss: agencyId, sub: id, role: 'device', holderKey: publicKey(alg, signer.publicKey), iat: t, nbf: t - 60, exp: t + 86_400,
        profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
        proofOfPossession: await createProofOfPossession(signer, { agencyId, nonce: new Uint8Array(randomBytes(16)), iat: t }),
      }),
    );
    devices.push({ id, alg, secret: toHex(secret) });
  }
  for (let i = 0; i < certs.length; i += 200) {
    const res = await Promise.all(certs.slice(i, i + 200).map((c) => post('/v1/devices', { certificate: toBase64(c) })));
    const bad = res.find((r) => r.status >= 300);
    if (bad) throw new Error(bad.text);
  }
  return devices;
}

/** A bench device's reading number `seq`: a temperature, signed as COSE_Sign1. */
export function benchReading(signer: Signer, deviceId: Uint8Array, seq: number, iat: number, firmware: Uint8Array = FIRMWARE): Promise<Uint8Array> {
  return signReading(signer, { deviceId, seq, iat, firmware, body: { kind: 'sensor', type: 'temperature', value: 200 + (seq % 50), scale: -1, unit: 'Cel' } });
}
