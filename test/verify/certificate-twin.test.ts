/**
 * The other encoding of an ES256-signed certificate (s -> n - s, protocol/certificate-refs.ts): a revocation naming
 * either encoding covers both, so whoever produces a bundle cannot swap in the twin to walk around a revocation.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { p256 } from '@noble/curves/nist.js';
import {
  ALG_EDDSA, ALG_ES256, issueCertificate, decodeCertificate, deviceIdFromKey, deviceIdToHex, signReading, encode, Tag, decodeSign1,
  certificateRefs, namesCertificate, createRevocation, isRevokedAt, verifyRevocation, validateChain, trustAnchors, sha256, toBase64,
  anchorFromRootCertificate, verifyBundle, parseTrust, type Alg,
} from '../../protocol/index.js';
import { encodeBlockHeader, type ProofBundle } from '../../protocol/bundle.js';
import { ed25519NoteSigner, formatVerifierKey, signCheckpoint } from '../../protocol/checkpoint.js';
import { encodeLogEntry } from '../../protocol/log-entry.js';
import { referencePath, referenceRoot } from '../../protocol/merkle/reference.js';
import { blockExtension } from '../../protocol/verify-bundle.js';
import { NOW, DAY, kidOf, pubOf, signerFor, sensorClaims, FIRMWARE } from '../protocol/fixtures.js';

const N = p256.Point.CURVE().n;

/** Made independently of certificate-refs.ts: decode, flip s, encode again. */
function twinOf(bytes: Uint8Array): Uint8Array {
  const s1 = decodeSign1(bytes, { strict: true });
  const s = BigInt('0x' + Buffer.from(s1.signature.subarray(32)).toString('hex'));
  const sig = new Uint8Array(64);
  sig.set(s1.signature.subarray(0, 32));
  sig.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32);
  return encode(new Tag([s1.protectedBytes, new Map(), s1.payload, sig], 18));
}

const window = { iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + 365 * DAY };

async function chain(rootAlg: Alg, label = 'x') {
  const root = signerFor(rootAlg, `twin-root-${label}`), agency = signerFor(ALG_ES256, `twin-agency-${label}`), device = signerFor(ALG_EDDSA, `twin-device-${label}`);
  const rootCert = decodeCertificate(await issueCertificate(root, kidOf(root), { iss: 'root.example', sub: 'root.example', role: 'root', holderKey: pubOf(root), ...window }));
  const agencyCert = decodeCertificate(await issueCertificate(root, kidOf(root), { iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(agency), ...window }));
  const deviceIdHex = deviceIdToHex(deviceIdFromKey(pubOf(device)));
  const deviceCert = decodeCertificate(await issueCertificate(agency, kidOf(agency), {
    iss: 'psb.example', sub: deviceIdHex, role: 'device', holderKey: pubOf(device), ...window,
    profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
  }));
  return { root, agency, device, rootCert, agencyCert, deviceCert, deviceIdHex, anchors: trustAnchors([anchorFromRootCertificate(rootCert)]) };
}

describe('certificateRefs', () => {
  it('an ES256-signed certificate has two refs, its twin is a valid certificate with the same two', async () => {
    const c = await chain(ALG_EDDSA);
    const twin = decodeCertificate(twinOf(c.deviceCert.bytes));
    expect(validateChain([twin, c.agencyCert], c.anchors, NOW).leaf.claims).toEqual(c.deviceCert.claims);
    const refs = certificateRefs(c.deviceCert).map((r) => toBase64(r));
    expect(refs).toEqual([toBase64(c.deviceCert.certRef), toBase64(sha256(twin.bytes))]);
    expect(new Set(certificateRefs(twin).map((r) => toBase64(r)))).toEqual(new Set(refs));
    expect(certificateRefs(c.agencyCert)).toHaveLength(1); // Ed25519: no twin (RFC 8032 §5.1.7, S < L)
    expect(namesCertificate(sha256(new Uint8Array([1])), c.deviceCert)).toBe(false);
  });

  it('a revocation naming either encoding covers both', async () => {
    const c = await chain(ALG_EDDSA);
    const twin = decodeCertificate(twinOf(c.deviceCert.bytes));
    const rev = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW });
    const ofOriginal = verifyRevocation(rev, twin, pubOf(c.agency));
    expect(isRevokedAt(twin, [ofOriginal], NOW)).toBeDefined();
    const ofTwin = verifyRevocation(await createRevocation(c.agency, twin, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW }), c.deviceCert, pubOf(c.agency));
    expect(isRevokedAt(c.deviceCert, [ofTwin], NOW)).toBeDefined();
  });

  it('property: for any ES256 issuer key, the twin verifies and the refs are symmetric', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1_000_000 }), async (n) => {
        const c = await chain(ALG_ES256, `p${n}`);
        const twin = decodeCertificate(twinOf(c.agencyCert.bytes));
        validateChain([twin], c.anchors, NOW);
        expect(namesCertificate(c.agencyCert.certRef, twin) && namesCertificate(twin.certRef, c.agencyCert)).toBe(true);
      }),
      { numRuns: 12 },
    );
  });
});

describe('verifyBundle with a twin agency certificate', () => {
  const signer = ed25519NoteSigner('twin.example/log', new Uint8Array(32).fill(7));

  async function bundle(c: Awaited<ReturnType<typeof chain>>, agencyBytes: Uint8Array): Promise<ProofBundle> {
    const payload = await signReading(c.device, sensorClaims({ ...c, anchors: c.anchors } as never, 1, { iat: NOW }));
    const entry = encodeLogEntry({ type: 1, index: 0, receivedAtMs: NOW * 1000 + 100, payload, certRef: c.deviceCert.certRef });
    const root = referenceRoot([entry]);
    const header = encodeBlockHeader({ height: 0, prevHash: new Uint8Array(32), firstIndex: 0, lastIndex: 0, treeSize: 1, root, timeMs: NOW * 1000 + 500 });
    const checkpoint = await signCheckpoint({ origin: 'twin.example/log', size: 1, root, extensions: [blockExtension(0, header)] }, signer);
    return { entry, index: 0, treeSize: 1, inclusionProof: referencePath(0, [entry]), checkpoint, blockHeader: header, certificates: [c.deviceCert.bytes, agencyBytes], revocations: [] };
  }

  it('CERT_REVOKED: the verifier revoked the agency certificate; the bundle carries its twin', async () => {
    const c = await chain(ALG_ES256, 'bundle');
    const trust = parseTrust({ roots: [{ certificate: toBase64(c.rootCert.bytes) }], checkpointKeys: [formatVerifierKey(signer.name, signer.publicKey)], origin: 'twin.example/log' });
    const rev = await createRevocation(c.root, c.agencyCert, { reason: 'keyCompromise', revokedFrom: NOW - 10, iat: NOW });
    expect(verifyBundle(await bundle(c, c.agencyCert.bytes), trust).valid).toBe(true);
    const swapped = verifyBundle(await bundle(c, twinOf(c.agencyCert.bytes)), trust, { revocations: [rev] });
    expect(swapped.valid).toBe(false);
    expect(swapped.checks.find((x) => x.name === 'revocation')).toMatchObject({ status: 'fail', code: 'CERT_REVOKED' });
  });
});
