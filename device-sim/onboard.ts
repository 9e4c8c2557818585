/**
 * Onboarding (SPEC §2), device and agency side together, as an installer's tool would run it:
 * the device makes its key inside its secure element and a proof of possession over the agency's nonce; the
 * agency checks it and issues the certificate; the agency registers it at the gateway over HTTP; the device is
 * provisioned (gateway address, gateway id, checkpoint key, salt for fingerprint readers) and its state written.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectories } from '../node-fs/make-directories.js';
import {
  createProofOfPossession, deviceIdFromKey, fail, deviceIdToHex, publicKey, sha256, toBase64, toHex, utf8ToBytes, type Alg, type DecodedCertificate,
} from '../protocol/index.js';
import { Agency, fetchCheckpointKey, fetchGatewayId } from './agency.js';
import { Device } from './device.js';
import type { DeviceOptions } from './device-options.js';
import { READING_TYPES } from './kinds.js';
import { createSecureElement, saveSecureElement, type SecureElement, type SecureElementBackend } from './secure-element.js';
import { DEFAULT_AUD, stateFilePath, writePrivateFile, writeState, type DeviceKind, type DeviceStateFile } from './state.js';
import { readJsonFile } from './json-file.js';

/** The firmware image every simulated device runs (its SHA-256 is certified in the device profile). */
export const SIM_FIRMWARE = sha256(utf8ToBytes('originproof device-sim firmware 1.0.0'));

export interface GatewayEndpoint {
  httpUrl: string;
  mqttUrl: string;
  /** The gateway id: `aud` of connect tokens; default the one the gateway publishes on GET /v1/log, else DEFAULT_AUD. */
  aud?: string;
  /** C2SP verifier key of the gateway's checkpoints; fetched from GET /v1/log when omitted. */
  checkpointVerifierKey?: string;
  /** PEM of the CA that issued the gateway's TLS certificate (mqtts: URLs); omitted: the system's CAs. */
  tlsCa?: string;
}

export interface OnboardOptions {
  gateway: GatewayEndpoint;
  kind: DeviceKind;
  alg?: Alg;
  /** Directory for the state and key files; without it the device lives in memory only. */
  dir?: string;
  backend?: SecureElementBackend;
  /** Certificate window (seconds since the epoch). */
  nbf?: number;
  exp?: number;
  readingTypes?: string[];
  /** Skip the HTTP registration (for the "unregistered device" attack). */
  register?: boolean;
  seqBlock?: number;
}

export interface Onboarded {
  state: DeviceStateFile;
  statePath?: string;
  se: SecureElement;
  cert: DecodedCertificate;
}

export async function onboardDevice(agency: Agency, o: OnboardOptions): Promise<Onboarded> {
  const alg = o.alg ?? -8;
  // 1. The device makes its key (inside the element) and presents the public key.
  const se = createSecureElement(alg as Alg, o.backend);
  const key = publicKey(se.alg, se.publicKey);
  const deviceId = deviceIdToHex(deviceIdFromKey(key));
  // 2. The agency's challenge; the device's proof of possession.
  const nonce = agency.challenge();
  const pop = await createProofOfPossession(se, { agencyId: agency.id, nonce, iat: Math.floor(Date.now() / 1000) });
  // 3. The agency checks it and issues the certificate ...
  const readingTypes = o.readingTypes ?? READING_TYPES[o.kind];
  const cert = await agency.certify(key, pop, nonce, { kind: o.kind, readingTypes, firmware: SIM_FIRMWARE }, { ...(o.nbf !== undefined ? { nbf: o.nbf } : {}), ...(o.exp !== undefined ? { exp: o.exp } : {}) });
  // ... and registers it with the gateway.
  if (o.register !== false) await agency.registerDevice(o.gateway.httpUrl, cert);
  // 4. Provisioning.
  const state: DeviceStateFile = {
    version: 1,
    deviceId,
    alg: se.alg === -8 ? 'ed25519' : 'es256',
    kind: o.kind,
    agency: agency.id,
    keyFile: `${deviceId}.se.json`,
    certificate: toBase64(cert.bytes),
    firmware: toHex(SIM_FIRMWARE),
    readingTypes,
    ...(o.kind === 'fingerprint-reader' ? { salt: toHex(agency.salt) } : {}),
    gateway: {
      httpUrl: o.gateway.httpUrl,
      mqttUrl: o.gateway.mqttUrl,
      aud: o.gateway.aud ?? (await gatewayIdOf(o.gateway.httpUrl)),
      checkpointVerifierKey: o.gateway.checkpointVerifierKey ?? (await fetchCheckpointKey(o.gateway.httpUrl)),
      ...(o.gateway.tlsCa ? { tlsCa: o.gateway.tlsCa } : {}),
    },
    seqReserved: -1,
    seqBlock: o.seqBlock ?? 100,
  };
  let statePath: string | undefined;
  if (o.dir) {
    makeDirectories(o.dir);
    statePath = stateFilePath(o.dir, deviceId);
    saveSecureElement(se, join(o.dir, state.keyFile));
    writeState(statePath, state);
  }
  return statePath ? { state, statePath, se, cert } : { state, se, cert };
}

/** The gateway id the gateway publishes, else DEFAULT_AUD. */
async function gatewayIdOf(httpUrl: string): Promise<string> {
  return (await fetchGatewayId(httpUrl)) ?? DEFAULT_AUD;
}

export function deviceFrom(o: Onboarded, extra: Partial<DeviceOptions> = {}): Device {
  return new Device({ state: o.state, se: o.se, ...(o.statePath ? { statePath: o.statePath } : {}), ...extra });
}

/** The fleet manifest `sim onboard` writes next to the device state files. */
export interface FleetManifest {
  version: 1;
  gateway: GatewayEndpoint & { aud: string; checkpointVerifierKey: string };
  agency: { id: string; keyFile: string; certFile: string; salt: string };
  devices: string[];
}

export const MANIFEST_NAME = 'fleet.json';

export async function onboardFleet(o: {
  gateway: GatewayEndpoint; agency: Agency; agencyKeyFile: string; agencyCertFile: string; count: number; kinds: DeviceKind[]; alg?: Alg; out: string;
  onDevice?: (i: number, d: Onboarded) => void;
}): Promise<FleetManifest> {
  // Read an existing manifest first: one that is not a manifest stops the command before any device is registered.
  const path = join(o.out, MANIFEST_NAME);
  const earlier = existsSync(path) ? readManifest(path).devices : [];
  // The directory next, before the gateway is asked anything: one that cannot be made stops the command naming it,
  // with no agency or device registered for state files that could not be written.
  makeDirectories(o.out);
  await o.agency.registerSelf(o.gateway.httpUrl);
  const checkpointVerifierKey = o.gateway.checkpointVerifierKey ?? (await fetchCheckpointKey(o.gateway.httpUrl));
  const gateway = { ...o.gateway, aud: o.gateway.aud ?? (await gatewayIdOf(o.gateway.httpUrl)), checkpointVerifierKey };
  const devices: string[] = [];
  for (let i = 0; i < o.count; i++) {
    const kind = o.kinds[i % o.kinds.length]!;
    const d = await onboardDevice(o.agency, { gateway, kind, dir: o.out, ...(o.alg !== undefined ? { alg: o.alg } : {}) });
    devices.push(`${d.state.deviceId}.json`);
    o.onDevice?.(i, d);
  }
  // Onboarding again into the same directory adds to its fleet: the devices already listed stay listed (each state
  // file carries its own gateway and agency; the manifest's are those of the latest onboarding).
  const manifest: FleetManifest = {
    version: 1,
    gateway,
    agency: { id: o.agency.id, keyFile: o.agencyKeyFile, certFile: o.agencyCertFile, salt: toHex(o.agency.salt) },
    devices: [...new Set([...earlier, ...devices])],
  };
  makeDirectories(o.out);
  writePrivateFile(path, JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/**
 * A fleet.json read back (to run the fleet, or before onboarding more into it). One that is not a manifest is an
 * error naming the file: never silently replaced (its device list would be lost), never run as far as a TypeError.
 */
export function readManifest(path: string): FleetManifest {
  const m = readJsonFile(path, 'fleet manifest') as FleetManifest | null;
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (m?.version !== 1 || !Array.isArray(m.devices) || !m.devices.every((d) => typeof d === 'string')
    || !isObject(m.gateway) || typeof m.gateway.mqttUrl !== 'string' || !isObject(m.agency)) {
    fail('MALFORMED', `${path} is not a fleet manifest (written by sim onboard)`, path);
  }
  return m;
}
