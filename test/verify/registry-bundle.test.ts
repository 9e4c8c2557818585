/**
 * Bundles of registry events from a real gateway (gateway/bundle-material.ts) verify offline with only the root key
 * and the checkpoint key: agency and device registrations, a renewal of the agency, a device's revocation (issued
 * by the agency under its renewed certificate) and an agency's revocation (by the root). Each bundle carries exactly
 * the certificates its check needs: a device registration the agency certificate it was checked against (even
 * after the agency renewed), a revocation the revoked certificate and, for a device, its agency's certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeCertificate, issueCertificate, type DecodedCertificate } from '../../protocol/certificate.js';
import { decodeProofBundle, type ProofBundle } from '../../protocol/bundle.js';
import { decodeRevocation } from '../../protocol/revocation.js';
import { toBase64, toHex } from '../../protocol/bytes.js';
import { decodeLogEntry } from '../../protocol/log-entry.js';
import { parseTrust, type TrustMaterial } from '../../protocol/trust.js';
import { verifyBundle, type Verdict } from '../../protocol/verify-bundle.js';
import { runVerify } from '../../cli/commands/verify.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pki, kidOf, nowS, post, pubOf, register, revoke, startTestGateway, type Device, type Party, type TestGateway } from '../gateway/harness.js';

const DAY = 86_400;
const fails = (v: Verdict) => v.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code]);
const statuses = (v: Verdict) => v.checks.map((c) => [c.name, c.status]);
const ALL_PASS = [['signature', 'pass'], ['chain', 'pass'], ['revocation', 'pass'], ['claims', 'pass'], ['inclusion', 'pass'], ['checkpoint', 'pass'], ['consistency', 'skip']];

describe('registry events: gateway bundles verify offline', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let psb: Party;
  let renewed: DecodedCertificate;
  let other: Party;
  let d1: Device;
  let d2: Device;
  const idx: Record<string, number> = {};
  let dir: string;

  const bundleOf = async (index: number): Promise<ProofBundle> => decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` })).rawPayload));
  const lastIndex = () => t.gw.ledger.size() - 1;

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
    dir = await mkdtemp(join(tmpdir(), 'op-registry-bundle-'));
    trust = parseTrust({ roots: [{ certificate: toBase64(pki.root.cert.bytes) }], checkpointKeys: [t.gw.checkpointVerifierKey] });
    psb = await pki.agency('psb.example');
    d1 = await pki.device(psb);
    d2 = await pki.device(psb);
    await register(t.gw, psb, [d1, d2]);
    [idx.agency, idx.d1, idx.d2] = [0, 1, 2];
    // The agency renews its certificate (same key, issued later): the devices were registered under the first one.
    const now = nowS();
    renewed = decodeCertificate(await issueCertificate(pki.root.signer, kidOf(pki.root.signer), {
      iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(psb.signer), iat: now, nbf: now - 60, exp: now + 365 * DAY,
    }));
    expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(renewed.bytes) })).status).toBe(201);
    idx.renewal = lastIndex();
    // d1's key was compromised an hour ago (before it was registered); d2 is decommissioned from tomorrow.
    expect((await revoke(t.gw, psb, d1.cert, now - 3600, 'keyCompromise')).status).toBe(201);
    idx.revokeD1 = lastIndex();
    expect((await revoke(t.gw, psb, d2.cert, now + DAY, 'decommissioned')).status).toBe(201);
    idx.revokeD2 = lastIndex();
    other = await pki.agency('other.example');
    await register(t.gw, other, []);
    idx.other = lastIndex();
    expect((await revoke(t.gw, pki.root, other.cert, now + DAY, 'cessationOfOperation')).status).toBe(201);
    idx.revokeOther = lastIndex();
    expect(Object.values(idx)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  }, 60_000);
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('every registry event verifies, with every payload check passing, and carries just what its check needs', async () => {
    const expected: [string, number, string[], string[]][] = [
      // name, entry type, certificates (hex certRef), revocations' subjects
      ['agency', 2, [], []],
      ['d2', 3, [toHex(psb.cert.certRef)], [d2.id]],
      ['renewal', 2, [], []],
      ['revokeD1', 4, [toHex(d1.cert.certRef), toHex(renewed.certRef)], []],
      ['revokeD2', 4, [toHex(d2.cert.certRef), toHex(renewed.certRef)], []],
      ['other', 2, [], ['other.example']],
      ['revokeOther', 4, [toHex(other.cert.certRef)], []],
    ];
    for (const [name, type, certs, revoked] of expected) {
      const b = await bundleOf(idx[name]!);
      const v = verifyBundle(b, trust);
      expect(fails(v), name).toEqual([]);
      expect(statuses(v), name).toEqual(ALL_PASS);
      expect(v.valid, name).toBe(true);
      expect(v.record?.entryType, name).toBe(type);
      expect(v.record?.root, name).toBe('root.example');
      expect(b.certificates.map((c) => toHex(decodeCertificate(c).certRef)), name).toEqual(certs);
      expect(b.revocations.map((r) => decodeRevocation(r).claims.sub), name).toEqual(revoked);
    }
    // A device registration names the agency certificate it was checked against; the bundle carries that one.
    expect(toHex(decodeLogEntry((await bundleOf(idx.d2!)).entry).certRef!)).toBe(toHex(psb.cert.certRef));
    expect((await bundleOf(idx.d2!)).revocations).toHaveLength(1); // d2's scheduled decommissioning
    expect(verifyBundle(await bundleOf(idx.d2!), trust).record).toMatchObject({ deviceId: d2.id, agency: 'psb.example' });
  });

  test("a registration of a certificate revoked from before it was registered fails CERT_REVOKED; the revocation itself is valid", async () => {
    const v = verifyBundle(await bundleOf(idx.d1!), trust);
    expect(v.valid).toBe(false);
    expect(fails(v)).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(verifyBundle(await bundleOf(idx.revokeD1!), trust).valid).toBe(true);
  });

  test('a bundle stripped of the certificates its registry event needs is invalid, never valid by skipping', async () => {
    for (const name of ['d2', 'revokeD2', 'revokeOther']) {
      const b = await bundleOf(idx[name]!);
      const v = verifyBundle({ ...b, certificates: [] }, trust);
      expect(v.valid, name).toBe(false);
      const chain = v.checks.find((c) => c.name === 'chain')!;
      expect(chain.status, name).toBe('fail');
      expect(chain.code, name).toMatch(/^(CHAIN_INVALID|UNKNOWN_KEY)$/);
    }
  });

  test('the CLI names the subject of a registry event', async () => {
    const file = join(dir, 'revoke-d2.cbor');
    await writeFile(file, (await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${idx.revokeD2}/bundle` })).rawPayload);
    const trustFile = join(dir, 'trust.json');
    await writeFile(trustFile, JSON.stringify({ roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [{ key: t.gw.checkpointVerifierKey }] }));
    const r = runVerify({ bundle: file, trust: trustFile });
    expect(r.exitCode, r.output).toBe(0);
    expect(r.output).toMatch(new RegExp(`^record      revocation of device ${d2.id} \\(psb\\.example\\) at index ${idx.revokeD2}`, 'm'));
    expect(r.output).toMatch(/^VALID$/m);
    expect(runVerify({ bundle: file, trust: trustFile, maxSkew: '600' }).exitCode).toBe(0);
    const bad = runVerify({ bundle: file, trust: trustFile, maxSkew: 'soon' });
    expect(bad.exitCode).toBe(2);
    expect(bad.output).toMatch(/^UNUSABLE INPUT \[MALFORMED\] --max-skew/);
  });
});
