/**
 * What one registered device costs the gateway's registry in memory: N device certificates (one agency, bench
 * profiles with a proof of possession, as bench/fleet.ts issues them; the agency's key of the devices' algorithm)
 * built into a RegistryView the way Registry.load builds it (each certificate the payload of a decoded log entry),
 * then one certificate lookup by certRef (findCert, as the first revocation or verify request makes: certificates an
 * ES256 agency signed then also hold their twin encoding's ref). The V8 heap and the ArrayBuffer backing stores
 * (certificate bytes, hashes: outside heapUsed) are read after full collections, before and after, and divided by N.
 * The certificates wait their turn as one concatenated buffer, so their own copies are not counted twice.
 *
 *   node --expose-gc dist/bench/registry-memory.js [--devices N] [--alg es256|eddsa|both] [--snapshot]
 *
 * --snapshot writes a heap snapshot (registry-memory-<alg>.heapsnapshot, in the working directory) with the view held.
 */
import { randomBytes } from 'node:crypto';
import { writeHeapSnapshot } from 'node:v8';
import {
  ALG_EDDSA, ALG_ES256, algName, createProofOfPossession, decodeCertificate, deviceIdFromKey, deviceIdToHex, generateSecretKey, issueCertificate,
  keyThumbprint, publicKey, type Alg, type Signer,
} from '../protocol/index.js';
import { decodeLogEntry, encodeLogEntry, ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION } from '../protocol/log-entry.js';
import { RegistryView } from '../gateway/registry-view.js';
import { FIRMWARE } from './fleet.js';
import { nodeSigner } from './node-signer.js';

const kid = (s: Signer) => keyThumbprint(publicKey(s.alg, s.publicKey));

/** The log entries of one agency and `n` devices it certified, concatenated, with where each ends. */
async function issueFleet(alg: Alg, n: number): Promise<{ all: Buffer; ends: number[] }> {
  const t = Math.floor(Date.now() / 1000);
  const root = nodeSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  const agency = nodeSigner(alg, generateSecretKey(alg));
  const agencyId = `agency-memory-${algName(alg).toLowerCase()}.bench`;
  const entries: Uint8Array[] = [];
  const entry = (type: number, payload: Uint8Array) =>
    entries.push(encodeLogEntry({ type: type as never, index: entries.length, receivedAtMs: t * 1000, payload }));
  entry(ENTRY_AGENCY_REGISTRATION, await issueCertificate(root, kid(root), {
    iss: 'root.bench', sub: agencyId, role: 'agency', holderKey: publicKey(agency.alg, agency.publicKey), iat: t, nbf: t - 60, exp: t + 86_400,
  }));
  for (let i = 0; i < n; i++) {
    const signer = nodeSigner(alg, generateSecretKey(alg));
    const holderKey = publicKey(alg, signer.publicKey);
    entry(ENTRY_DEVICE_REGISTRATION, await issueCertificate(agency, kid(agency), {
      iss: agencyId, sub: deviceIdToHex(deviceIdFromKey(holderKey)), role: 'device', holderKey, iat: t, nbf: t - 60, exp: t + 86_400,
      profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
      proofOfPossession: await createProofOfPossession(signer, { agencyId, nonce: new Uint8Array(randomBytes(16)), iat: t }),
    }));
  }
  let end = 0;
  return { all: Buffer.concat(entries), ends: entries.map((e) => (end += e.length)) };
}

export interface RegistryMemoryResult {
  alg: string;
  devices: number;
  /** per device: V8 heap, ArrayBuffer backing stores, their sum (bytes) */
  heapBytes: number;
  arrayBufferBytes: number;
  totalBytes: number;
  certificateBytes: number;
}

export async function measureRegistryMemory(alg: Alg, n: number, snapshot = false): Promise<RegistryMemoryResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const { all, ends } = await issueFleet(alg, n);
  const full = () => {
    for (let i = 0; i < 3; i++) gc();
  };
  full();
  await new Promise((r) => setTimeout(r, 200)); // ArrayBuffer backing stores are freed off the main thread
  full();
  const before = process.memoryUsage();
  let view: RegistryView | undefined = new RegistryView();
  let certificateBytes = 0;
  for (let i = 0, start = 0; i < ends.length; start = ends[i++]!) {
    // A fresh copy per entry, as the ledger hands each entry back (Registry.load: getEntry, decodeLogEntry).
    const e = decodeLogEntry(new Uint8Array(all.subarray(start, ends[i])));
    const cert = decodeCertificate(e.payload);
    if (e.type === ENTRY_AGENCY_REGISTRATION) view.addAgency(cert, i);
    else {
      view.addDevice(cert, i);
      certificateBytes += cert.bytes.length;
    }
  }
  view.findCert(new Uint8Array(32));
  full();
  await new Promise((r) => setTimeout(r, 200));
  full();
  const after = process.memoryUsage();
  if (snapshot) console.log(`heap snapshot: ${writeHeapSnapshot(`registry-memory-${algName(alg).toLowerCase()}.heapsnapshot`)}`);
  // Both held until measured.
  if (!view.deviceById(view.devicesPage(`agency-memory-${algName(alg).toLowerCase()}.bench`, 1)!.page[0]!.deviceId) || all.length === 0) throw new Error('unreachable');
  view = undefined;
  const heapBytes = (after.heapUsed - before.heapUsed) / n;
  const arrayBufferBytes = (after.arrayBuffers - before.arrayBuffers) / n;
  return { alg: algName(alg), devices: n, heapBytes, arrayBufferBytes, totalBytes: heapBytes + arrayBufferBytes, certificateBytes: certificateBytes / n };
}

const argv = process.argv;
if (import.meta.url === `file://${argv[1]}`) {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i > 0 ? argv[i + 1] : undefined;
  };
  const n = Number(arg('--devices') ?? 10_000);
  const which = arg('--alg') ?? 'both';
  const algs = which === 'both' ? [ALG_ES256, ALG_EDDSA] : [which === 'es256' ? ALG_ES256 : ALG_EDDSA];
  for (const alg of algs as Alg[]) {
    const r = await measureRegistryMemory(alg, n, argv.includes('--snapshot'));
    console.log(
      `${r.alg.padEnd(7)} ${n} devices: ${Math.round(r.totalBytes)} B per device (V8 heap ${Math.round(r.heapBytes)} B + ArrayBuffers ${Math.round(r.arrayBufferBytes)} B; certificate ${Math.round(r.certificateBytes)} B)`,
    );
  }
  process.exit(0);
}
