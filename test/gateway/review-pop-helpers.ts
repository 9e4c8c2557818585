/** Helpers for the review-pop suites: the harness, plus a device key without a certificate yet. */
import { ALG_EDDSA, deviceIdFromKey, deviceIdToHex, generateSecretKey, nobleSigner, type Alg } from '../../protocol/index.js';
import { pubOf, type Device } from './harness.js';

export * from './harness.js';

/** A device's key and id; `cert` is filled in by whoever certifies it. */
export function nobleDevice(alg: Alg = ALG_EDDSA): Device {
  const signer = nobleSigner(alg, generateSecretKey(alg));
  return { signer, id: deviceIdToHex(deviceIdFromKey(pubOf(signer))), cert: undefined as never };
}
