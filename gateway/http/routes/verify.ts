/**
 * Verdict routes: POST a proof bundle (checked exactly as an offline verifier would, with the gateway's trust
 * material plus its own checkpoint key) or a reading envelope (checked as the pipeline would, without admitting
 * it). The answer lists every check with its result and, on failure, its code.
 */
import { Type } from '@sinclair/typebox';
import { CHECK_NAMES, verifyBundle, type Check, type Verdict } from '../../../protocol/verify-bundle.js';
import { decodeProofBundle } from '../../../protocol/bundle.js';
import { parseVerifierKey } from '../../../protocol/checkpoint.js';
import { OriginProofError } from '../../../protocol/errors.js';
import { openReading, verifyReading } from '../../../protocol/reading.js';
import { toHex } from '../../../protocol/bytes.js';
import type { TrustMaterial } from '../../../protocol/trust.js';
import { nodeVerify } from '../../crypto/node-verifier.js';
import type { SignatureVerifier } from '../../../protocol/algorithms.js';
import type { GatewayLedger } from '../../ledger-adapter.js';
import type { Registry } from '../../registry.js';
import type { HttpApp } from '../app.js';
import { ApiError } from '../error-registry.js';
import { b64in } from '../codec.js';
import { Base64, errorResponses } from '../schemas.js';

const CheckSchema = Type.Object({
  name: Type.String({ enum: [...CHECK_NAMES] }),
  status: Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('skip')]),
  code: Type.Optional(Type.String()),
  message: Type.String(),
});

const VerdictSchema = Type.Object({
  valid: Type.Boolean(),
  checks: Type.Array(CheckSchema),
  record: Type.Optional(Type.Object({}, { additionalProperties: true })),
  checkpoint: Type.Optional(Type.Object({ origin: Type.String(), size: Type.Integer(), root: Type.String(), signedBy: Type.Array(Type.String(), { description: 'names of the trusted keys whose signatures verified' }) })),
});

export interface VerifyRouteDeps {
  ledger: GatewayLedger;
  registry: Registry;
  trust: TrustMaterial;
  checkpointVerifierKey: string;
}

export function verifyRoutes(app: HttpApp, deps: VerifyRouteDeps): void {
  const own = parseVerifierKey(deps.checkpointVerifierKey);
  const trust: TrustMaterial = { ...deps.trust, checkpointKeys: [...deps.trust.checkpointKeys, { verifier: own }] };

  app.post(
    '/v1/verify',
    {
      config: { rateLimit: {} },
      schema: {
        tags: ['verify'],
        summary: 'Verdict on a proof bundle (offline-equivalent checks) or on a reading envelope (pipeline checks, not admitted)',
        body: Type.Union([Type.Object({ bundle: Base64 }), Type.Object({ envelope: Base64 })]),
        response: { 200: VerdictSchema, ...errorResponses },
      },
    },
    async (req) => {
      const body = req.body as { bundle?: string; envelope?: string };
      if (body.bundle !== undefined) {
        const bundle = decodeProofBundle(b64in(body.bundle, 'bundle'));
        return verifyBundle(bundle, trust, { verifier: nodeVerify });
      }
      if (body.envelope !== undefined) return envelopeVerdict(deps.registry, b64in(body.envelope, 'envelope'), nodeVerify);
      throw new ApiError('BAD_REQUEST', 'send {bundle} or {envelope}');
    },
  );
}

function envelopeVerdict(registry: Registry, bytes: Uint8Array, verifier: SignatureVerifier): Verdict {
  const checks: Check[] = [];
  const fail = (name: Check['name'], err: unknown) =>
    checks.push({ name, status: 'fail', code: err instanceof OriginProofError ? err.code : 'MALFORMED', message: (err as Error).message });
  let opened;
  try {
    opened = openReading(bytes);
    checks.push({ name: 'claims', status: 'pass', message: 'well formed; no raw biometric data' });
  } catch (err) {
    fail('claims', err);
    return { valid: false, checks };
  }
  const device = registry.deviceByKid(opened.kid);
  if (!device) {
    checks.push({ name: 'chain', status: 'fail', code: 'UNKNOWN_KEY', message: 'no registered device has this key' });
    return { valid: false, checks };
  }
  try {
    registry.assertDeviceUsableAt(device, opened.claims.iat);
    verifyReading(opened, device.cert, { verifier, revocations: registry.allRevocations() });
    checks.push({ name: 'signature', status: 'pass', message: `verifies with the key of device ${device.deviceId}` });
    checks.push({ name: 'chain', status: 'pass', message: `${device.deviceId} <- ${device.agency.cert.claims.sub}, valid at ${opened.claims.iat}` });
    checks.push({ name: 'revocation', status: 'pass', message: 'not revoked at the reading time' });
  } catch (err) {
    const code = err instanceof OriginProofError ? err.code : 'MALFORMED';
    const name: Check['name'] = code === 'BAD_SIGNATURE' || code === 'ALG_NOT_ALLOWED' ? 'signature' : code === 'CERT_REVOKED' ? 'revocation' : code === 'TYPE_NOT_ALLOWED' || code === 'FIRMWARE_MISMATCH' || code === 'CLAIM_INVALID' ? 'claims' : 'chain';
    fail(name, err);
  }
  return { valid: checks.every((c) => c.status === 'pass'), checks, record: { index: -1, treeSize: 0, entryType: 1, receivedAtMs: 0, deviceId: toHex(opened.claims.deviceId), seq: opened.claims.seq, iat: opened.claims.iat, body: opened.claims.body.kind === 'sensor' ? opened.claims.body : { ...opened.claims.body, subjectCommitment: toHex(opened.claims.body.subjectCommitment) } } };
}
