/**
 * The registry view keeps its certificates in a compact shape (KeptCertificate, gateway/registry-view.ts): the same
 * values as decodeCertificate gives, whichever is asked for, including what it makes again when asked (sign1, cti, the
 * proof of possession) and what it shares between certificates (agency ids, issuer kids, profiles); the lookups by
 * kid, certRef (either ES256 encoding) and time answer as before, for certificates decoded from a view into a larger
 * buffer too.
 */
import { describe, expect, it } from 'vitest';
import { ALG_EDDSA, ALG_ES256, decodeCertificate, sha256, type DecodedCertificate } from '../../protocol/index.js';
import { RegistryView } from '../../gateway/registry-view.js';
import { certify, nowS, Pki } from './harness.js';
import { highSTwin } from '../protocol/high-s-twin.js';

/** Every value a DecodedCertificate gives, as plain data. */
function valuesOf(c: DecodedCertificate) {
  const { iss, sub, iat, nbf, exp, cti, holderKey, role, profile, proofOfPossession } = c.claims;
  const s = c.sign1;
  return {
    bytes: [...c.bytes], holderKid: [...c.holderKid], issuerKid: [...c.issuerKid], certRef: [...c.certRef],
    holderKey: { alg: c.holderKey.alg, raw: [...c.holderKey.raw] },
    claims: {
      iss, sub, iat, nbf, exp, role, cti: [...cti], holderKey: { alg: holderKey.alg, raw: [...holderKey.raw] },
      profile: profile && { kind: profile.kind, readingTypes: [...profile.readingTypes], firmware: [...profile.firmware] },
      proofOfPossession: proofOfPossession && [...proofOfPossession],
    },
    sign1: {
      protectedBytes: [...s.protectedBytes], protectedHeaders: [...s.protectedHeaders], unprotectedHeaders: [...s.unprotectedHeaders],
      payload: [...s.payload], signature: [...s.signature], alg: s.alg, kid: s.kid && [...s.kid], contentType: s.contentType,
    },
  };
}

/** `bytes` decoded from a view in the middle of a larger buffer (as a log entry's payload or a request body is). */
function decodedInside(bytes: Uint8Array): DecodedCertificate {
  const big = new Uint8Array(bytes.length + 100).fill(0xee);
  big.set(bytes, 37);
  return decodeCertificate(big.subarray(37, 37 + bytes.length));
}

describe('RegistryView keeps certificates compact, with the same values', () => {
  it('agency and devices (Ed25519, ES256): every value, the lookups, twins and history', async () => {
    const pki = await Pki.create();
    const agency = await pki.agency('psb.example');
    const devices = [await pki.device(agency, { alg: ALG_EDDSA }), await pki.device(agency, { alg: ALG_ES256 }), await pki.device(agency, { alg: ALG_ES256 })];
    const view = new RegistryView();
    const agencyRecord = view.addAgency(decodedInside(agency.cert.bytes), 0);
    expect(valuesOf(agencyRecord.cert)).toEqual(valuesOf(agency.cert));
    expect(agencyRecord.cert.claims.profile).toBeUndefined();
    expect(agencyRecord.cert.claims.proofOfPossession).toBeUndefined();
    devices.forEach((d, i) => view.addDevice(decodedInside(d.cert.bytes), i + 1));
    for (const d of devices) {
      const kept = view.deviceByKid(d.cert.holderKid)!.cert;
      expect(valuesOf(kept)).toEqual(valuesOf(d.cert));
      expect(view.deviceById(d.id)!.cert).toBe(kept);
      expect(view.findCert(d.cert.certRef)).toBe(kept);
      expect(view.certificateByRef(d.cert.certRef)).toBe(kept);
      // The other encoding of an ES256 signature names it too (the harness's agencies sign with ES256).
      expect(kept.sign1.alg).toBe(ALG_ES256);
      const twinRef = sha256(highSTwin(d.cert.bytes));
      expect(view.findCert(twinRef)).toBe(kept);
      expect(view.certificateByRef(twinRef)).toBeUndefined();
      // Its bytes are its own (not the larger buffer's), as are what it is kept with.
      expect(kept.bytes.buffer.byteLength).toBe(kept.bytes.length + 64);
    }
    // Shared between the devices: one profile, one issuer kid, one agency id.
    const [a, b] = devices.map((d) => view.deviceByKid(d.cert.holderKid)!.cert);
    expect(a!.claims.profile).toBe(b!.claims.profile);
    expect(a!.issuerKid).toBe(b!.issuerKid);
    expect(view.devicesPage('psb.example', 10)!.page.map((r) => r.deviceId)).toEqual(devices.map((d) => d.id));
  });

  it("a device's renewal: both certificates kept in order, each found by its time", async () => {
    const pki = await Pki.create();
    const agency = await pki.agency('psb.example');
    const d = await pki.device(agency, { alg: ALG_ES256 });
    const view = new RegistryView();
    view.addAgency(agency.cert, 0);
    view.addDevice(d.cert, 1);
    const t = nowS();
    const renewed = await certify(agency, d, 'device', t); // nbf t - 60; the first began a day before
    const record = view.addDevice(renewed, 2);
    expect(valuesOf(record.cert)).toEqual(valuesOf(renewed));
    expect(view.deviceByKid(d.cert.holderKid)).toBe(record);
    expect(valuesOf(view.certificateCovering('device', d.cert.holderKid, t - 3600)!)).toEqual(valuesOf(d.cert));
    expect(view.certificateCovering('device', d.cert.holderKid, t)).toBe(record.cert);
    expect(view.certificateCovering('device', d.cert.holderKid, d.cert.claims.nbf - 1)).toBeUndefined();
    expect(view.findCert(d.cert.certRef)).toBe(view.certificateCovering('device', d.cert.holderKid, t - 3600));
    expect(view.agencyCertificateAt(agency.cert.holderKid, t)).toBe(view.agencyByKid(agency.cert.holderKid)!.cert);
  });
});
