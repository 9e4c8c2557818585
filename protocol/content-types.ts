/**
 * COSE content types (protected header label 3, RFC 9052 §3.1) of everything OriginProof signs (docs/DESIGN.md).
 * The content type sits in the protected header, so a signature over one kind never verifies as another kind.
 */

/** Certificate: a CWT (RFC 8392), CoAP content format 61 (application/cwt, RFC 8392 §9.3). */
export const CT_CERTIFICATE = 61;
/** Device reading (EAT-style claims, RFC 9711). Experimental-use range of the CoAP content formats registry. */
export const CT_READING = 65001;
/** Revocation statement, signed by the issuer of the revoked certificate. */
export const CT_REVOCATION = 65002;
/** MQTT connect token (password of the device's MQTT CONNECT). */
export const CT_CONNECT_TOKEN = 65003;
/** Proof of possession of the device key, sent to the agency at onboarding. */
export const CT_PROOF_OF_POSSESSION = 65004;

export const CONTENT_TYPES = {
  certificate: CT_CERTIFICATE,
  reading: CT_READING,
  revocation: CT_REVOCATION,
  connectToken: CT_CONNECT_TOKEN,
  proofOfPossession: CT_PROOF_OF_POSSESSION,
} as const;

export type ContentTypeName = keyof typeof CONTENT_TYPES;

export function contentTypeName(ct: unknown): ContentTypeName | undefined {
  for (const [name, value] of Object.entries(CONTENT_TYPES)) if (value === ct) return name as ContentTypeName;
  return undefined;
}
