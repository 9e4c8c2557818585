/** Deterministic keys and a root -> agency -> device chain for tests (not a test file itself). */
import {
  ALG_EDDSA, ALG_ES256, nobleSigner, publicKey, keyThumbprint, issueCertificate, decodeCertificate, deviceIdFromKey,
  deviceIdToHex, trustAnchors, anchorFromRootCertificate, sha256, utf8ToBytes, type Alg, type Signer, type DecodedCertificate,
  type ReadingClaims, createProofOfPossession,
} from '../../protocol/index.js';

export const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z
export const DAY = 86_400;

export function seedKey(label: string): Uint8Array {
  return sha256(utf8ToBytes(`originproof test key ${label}`));
}

export function signerFor(alg: Alg, label: string): Signer {
  return nobleSigner(alg, seedKey(label));
}

export const kidOf = (s: Signer): Uint8Array => keyThumbprint(publicKey(s.alg, s.publicKey));
export const pubOf = (s: Signer) => publicKey(s.alg, s.publicKey);
export const FIRMWARE = sha256(utf8ToBytes('firmware image v1.2.3'));
/** The proof of possession a device gives agency `agencyId` at onboarding (SPEC §2), dated NOW, fixed nonce. */
export const possessionFor = (device: Signer, agencyId: string): Promise<Uint8Array> =>
  createProofOfPossession(device, { agencyId, nonce: new Uint8Array(16).fill(7), iat: NOW });

export interface Chain {
  root: Signer; agency: Signer; device: Signer;
  rootCert: DecodedCertificate; agencyCert: DecodedCertificate; deviceCert: DecodedCertificate;
  anchors: ReturnType<typeof trustAnchors>;
  deviceIdHex: string;
}

const cti = (n: number) => new Uint8Array(16).fill(n);

export async function makeChain(deviceAlg: Alg = ALG_EDDSA, types = ['temperature', 'humidity', 'biometric']): Promise<Chain> {
  const root = signerFor(ALG_EDDSA, 'root');
  const agency = signerFor(ALG_ES256, 'agency');
  const device = signerFor(deviceAlg, `device-${deviceAlg}`);
  const window = { iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + 365 * DAY };
  const rootCert = decodeCertificate(await issueCertificate(root, kidOf(root), {
    iss: 'root.example', sub: 'root.example', role: 'root', holderKey: pubOf(root), cti: cti(1), ...window, exp: NOW + 3650 * DAY,
  }));
  const agencyCert = decodeCertificate(await issueCertificate(root, kidOf(root), {
    iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(agency), cti: cti(2), ...window,
  }));
  const deviceIdHex = deviceIdToHex(deviceIdFromKey(pubOf(device)));
  const deviceCert = decodeCertificate(await issueCertificate(agency, kidOf(agency), {
    iss: 'psb.example', sub: deviceIdHex, role: 'device', holderKey: pubOf(device), cti: cti(3), ...window,
    profile: { kind: 'temperature-sensor', readingTypes: types, firmware: FIRMWARE },
    proofOfPossession: await possessionFor(device, 'psb.example'),
  }));
  const anchors = trustAnchors([anchorFromRootCertificate(rootCert)]);
  return { root, agency, device, rootCert, agencyCert, deviceCert, anchors, deviceIdHex };
}

export function sensorClaims(c: Chain, seq = 1, over: Partial<ReadingClaims> = {}): ReadingClaims {
  return {
    deviceId: deviceIdFromKey(pubOf(c.device)), seq, iat: NOW, firmware: FIRMWARE,
    body: { kind: 'sensor', type: 'temperature', value: 215, scale: -1, unit: 'Cel' }, ...over,
  };
}

export { ALG_EDDSA, ALG_ES256 };

/** Run fn; return the OriginProofError code it throws (or 'NO_ERROR'); anything without a code is NON_OP_ERROR. */
export function codeOfSync(fn: () => unknown): string {
  try {
    fn();
    return 'NO_ERROR';
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? code : `NON_OP_ERROR ${(e as Error).message}`;
  }
}

/** Run fn; return the OriginProofError code it throws (or 'NO_ERROR'). */
export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'NO_ERROR';
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? code : `NON_OP_ERROR: ${(e as Error).message}`;
  }
}
