/**
 * The other encoding of an ES256 COSE_Sign1 (a certificate, a connect token): the signature's s replaced by n - s,
 * which verifies too (ECDSA malleability; the project names both encodings, protocol/certificate-refs.ts). The
 * signature is the encoding's last 32 bytes' s half: a COSE_Sign1 ends with its 64-byte r || s bstr.
 * test/verify/certificate-twin.test.ts makes its twins independently (decode, flip, encode) to check this shortcut.
 */
import { p256 } from '@noble/curves/nist.js';
import { decodeCertificate, type DecodedCertificate } from '../../protocol/index.js';

const N = p256.Point.CURVE().n;

export function highSTwin(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const s = BigInt('0x' + Buffer.from(out.subarray(out.length - 32)).toString('hex'));
  out.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), out.length - 32);
  return out;
}

/** A certificate's other encoding, decoded. */
export const twinCertificate = (cert: DecodedCertificate): DecodedCertificate => decodeCertificate(highSTwin(cert.bytes));
