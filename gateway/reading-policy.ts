/**
 * The pipeline's checks of one reading that need no store: everything but the signature (run synchronously on
 * arrival, the signature captured for the verify workers) and the clock bound (once the signature is in).
 */
import type { Alg } from '../protocol/algorithms.js';
import { sigStructure } from '../protocol/cose-sign1.js';
import { OriginProofError } from '../protocol/errors.js';
import type { DecodedCertificate } from '../protocol/certificate.js';
import { assertReadingClock, checkReading, type OpenedReading } from '../protocol/reading.js';
import { readingRevokedAt, type DeviceRecord, type Registry } from './registry.js';

export interface SignatureJob {
  alg: Alg;
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/**
 * Everything but the signature: the device's and its agency's validity and revocation at iat (the registry holds
 * both revocations), then every claim check of checkReading against `cert`, the device certificate the reading is
 * logged under (Registry.deviceCertAt: an earlier one of the key for a reading signed before a renewal). Returns the
 * Sig_structure job for the worker pool.
 */
export function checkReadingPolicy(registry: Registry, opened: OpenedReading, device: DeviceRecord, cert: DecodedCertificate, receivedAtMs: number): SignatureJob {
  const iat = opened.claims.iat;
  registry.assertDeviceUsableAt(device, iat, 'certificate', readingRevokedAt(iat, receivedAtMs));
  let captured: SignatureJob | undefined;
  // checkReading runs every claim check; the signature itself is captured here and checked off-thread.
  checkReading(opened, cert, {
    verifier: (alg, publicKey, message, signature) => {
      captured = { alg, publicKey, message, signature };
      return true;
    },
  });
  return captured ?? signatureJobOf(opened, cert);
}

/** The reading's signature to check with the certificate's key (a renewal keeps the key: either certificate's). */
export function signatureJobOf(opened: OpenedReading, cert: DecodedCertificate): SignatureJob {
  const s = opened.sign1;
  return { alg: cert.holderKey.alg, publicKey: cert.holderKey.raw, message: sigStructure(s.protectedBytes, new Uint8Array(0), s.payload), signature: s.signature };
}

/** The rule offline verifiers of readings and the firmware vectors apply too (SPEC §6). */
export { assertReadingClock };

/**
 * assertReadingClock against the time the reading arrived (its entry's receivedAt), not when its turn came: an
 * offline verifier checks the same bound on the entry (verify-bundle.ts), and a reading that waited in a busy queue
 * is judged as it came. The failure is returned, not thrown: the pipeline answers it at the reading's turn, unless
 * the reading is the resend of a logged envelope.
 */
export function readingClockProblem(iat: number, receivedAtMs: number, limits: { clockSkewSeconds: number; maxReadingAgeSeconds: number }): OriginProofError | undefined {
  try {
    assertReadingClock(iat, Math.floor(receivedAtMs / 1000), limits);
    return undefined;
  } catch (err) {
    if (err instanceof OriginProofError) return err;
    throw err;
  }
}
