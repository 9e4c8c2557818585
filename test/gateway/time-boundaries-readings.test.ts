/**
 * A reading's time rules at their exact boundaries, end to end: a real gateway whose clock the test sets (its
 * GatewayRuntime.now, stopped at the last millisecond of a second, where flooring to seconds matters most), real MQTT,
 * and the offline verifier (verifyBundle with the gateway's trust) on every receipted reading. SPEC §6:
 * - iat at most clockSkewSeconds ahead of the gateway clock, at most maxReadingAgeSeconds old (CLOCK_SKEW);
 * - the device's and its agency's certificates valid at iat, nbf <= iat < exp (CERT_NOT_YET_VALID, CERT_EXPIRED);
 * - revoked at iat, or at its arrival if earlier (revokedFrom <= min(iat, arrival)): CERT_REVOKED.
 * protocol/reading.test.ts pins the same bounds on verifyReading alone; here the gateway, which floors its ms clock
 * and judges a revocation at arrival too, and the verifier, which places the reading at min(iat, receivedAt), must
 * give the same answer at the same second.
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeCertificate, encodeProofBundle, issueCertificate, toHex, verifyBundle, type TrustMaterial, type Verdict } from '../../protocol/index.js';
import {
  connectDevice, entryBundle, FIRMWARE, gatewayTrust, kidOf, nowS, Pki, possessionFor, postCert, pubOf, reading, register, revoke, startTestGateway,
  type Device, type Party, type TestGateway,
} from './harness.js';

const DAY = 86_400;
const SKEW = 300, MAX_AGE = 7 * DAY; // the gateway's defaults, as SPEC §6 states them
const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

describe('reading time boundaries: gateway and offline verifier agree at the second', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let g: Party;
  const T = nowS();
  let clockMs = T * 1000 + 999; // the gateway's clock: second T, at its last millisecond
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000 }, undefined, { now: () => clockMs });
    trust = await gatewayTrust(t);
    g = await t.pki.agency('time.example', { nbf: T - 30 * DAY });
    await register(t.gw, g, []);
  });
  afterAll(() => t.stop());

  const certRefs: string[] = []; // of each receipt outcomes() got, in order
  /** Publish each reading on one connection; a receipt's bundle is verified offline (at the test's clock). */
  async function outcomes(d: Device, iats: number[], connected?: () => Promise<void>): Promise<string[]> {
    const c = await connectDevice(t.gw, d);
    await connected?.(); // a revocation is heard on the next reading (a revoked device's CONNECT gets CONNACK 5)
    const out: string[] = [];
    try {
      for (const [i, iat] of iats.entries()) {
        await c.publish(await reading(d, i + 1, { iat }));
        const a = await c.next();
        if (a.kind === 'rejection') {
          out.push(a.rejection.code);
          continue;
        }
        const v = verifyBundle(await entryBundle(t, a.receipt.index), trust, { now: Math.floor(clockMs / 1000) });
        out.push(v.valid ? 'receipt, valid offline' : `receipt, offline ${JSON.stringify(failed(v))}`);
        certRefs.push(toHex(a.receipt.certRef));
      }
    } finally {
      await c.end();
    }
    return out;
  }

  async function device(opts: { nbf?: number; exp?: number } = {}, agency = g): Promise<Device> {
    const d = await t.pki.device(agency, { nbf: T - 30 * DAY, ...opts });
    await register(t.gw, agency, [d]);
    return d;
  }

  test(`iat = now + ${SKEW} s is taken (and verifies offline); now + ${SKEW + 1} s is CLOCK_SKEW`, async () => {
    expect(await outcomes(await device(), [T + SKEW + 1, T + SKEW])).toEqual(['CLOCK_SKEW', 'receipt, valid offline']);
  });

  test(`iat = now - ${MAX_AGE} s (7 days) is taken (and verifies offline); one second older is CLOCK_SKEW`, async () => {
    expect(await outcomes(await device(), [T - MAX_AGE - 1, T - MAX_AGE])).toEqual(['CLOCK_SKEW', 'receipt, valid offline']);
  });

  test('device certificate: iat = exp - 1 is taken, iat = exp is CERT_EXPIRED; iat = nbf is taken, nbf - 1 is CERT_NOT_YET_VALID', async () => {
    expect(await outcomes(await device({ exp: T + 100 }), [T + 100, T + 99])).toEqual(['CERT_EXPIRED', 'receipt, valid offline']);
    expect(await outcomes(await device({ nbf: T - 100 }), [T - 101, T - 100])).toEqual(['CERT_NOT_YET_VALID', 'receipt, valid offline']);
  });

  test("agency certificate: its device's reading at the agency's exp - 1 is taken, at exp CERT_EXPIRED; at nbf taken, nbf - 1 CERT_NOT_YET_VALID", async () => {
    const ending = await t.pki.agency('ending.example', { nbf: T - 30 * DAY, exp: T + 100 });
    await register(t.gw, ending, []);
    expect(await outcomes(await device({}, ending), [T + 100, T + 99])).toEqual(['CERT_EXPIRED', 'receipt, valid offline']);
    const starting = await t.pki.agency('starting.example', { nbf: T - 100 });
    await register(t.gw, starting, []);
    expect(await outcomes(await device({}, starting), [T - 101, T - 100])).toEqual(['CERT_NOT_YET_VALID', 'receipt, valid offline']);
  });

  test("renewal: the old certificate's exp is the new one's nbf; a reading a second before it is receipted under the old, at it under the new", async () => {
    const d = await device({ exp: T + 100 });
    const renewal = decodeCertificate(await issueCertificate(g.signer, kidOf(g.signer), {
      iss: g.cert.claims.sub, sub: d.id, role: 'device', holderKey: pubOf(d.signer), iat: T, nbf: T + 100, exp: T + 365 * DAY,
      profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE }, proofOfPossession: await possessionFor(d.signer, g.cert.claims.sub),
    }));
    clockMs = (T + 100) * 1000 + 999; // registered once valid: a certificate is registered at a time it is valid (CERT_NOT_YET_VALID before)
    const posted = await postCert(t, 'devices', renewal);
    expect(posted.status).toBe(201);
    certRefs.length = 0;
    expect(await outcomes(d, [T + 99, T + 100])).toEqual(['receipt, valid offline', 'receipt, valid offline']);
    expect(certRefs).toEqual([toHex(d.cert.certRef), toHex(renewal.certRef)]);
  });

  test("agency renewal: the old agency certificate's exp is the new one's nbf; its device's readings a second either side verify offline", async () => {
    const now = Math.floor(clockMs / 1000);
    const agency = await t.pki.agency('renewing.example', { nbf: T - 30 * DAY, exp: now + 100 });
    await register(t.gw, agency, []);
    const d = await device({}, agency);
    const root = t.pki.root.signer;
    const renewal = decodeCertificate(await issueCertificate(root, kidOf(root), {
      iss: 'root.example', sub: 'renewing.example', role: 'agency', holderKey: pubOf(agency.signer), iat: now, nbf: now + 100, exp: now + 365 * DAY,
    }));
    clockMs = (now + 100) * 1000 + 999; // registered once valid
    expect((await postCert(t, 'agencies', renewal)).status).toBe(201);
    expect(await outcomes(d, [now + 99, now + 100])).toEqual(['receipt, valid offline', 'receipt, valid offline']);
  });

  test('revocation: a reading at revokedFrom - 1 is taken (and verifies offline with the revocation logged), at revokedFrom CERT_REVOKED', async () => {
    const d = await device();
    const revoked = async () => expect((await revoke(t.gw, g, d.cert, T - 50, 'cessationOfOperation')).status).toBe(201);
    expect(await outcomes(d, [T - 50, T - 51], revoked)).toEqual(['CERT_REVOKED', 'receipt, valid offline']);
  });

  test('revocation ahead: a reading dated past revokedFrom (within the skew) arriving in the second before it is taken; arriving at it, CERT_REVOKED', async () => {
    const d = await device();
    const from = Math.floor(clockMs / 1000) + 10;
    const c = await connectDevice(t.gw, d);
    expect((await revoke(t.gw, g, d.cert, from, 'cessationOfOperation')).status).toBe(201);
    try {
      clockMs = (from - 1) * 1000 + 999; // the last millisecond before revokedFrom
      await c.publish(await reading(d, 1, { iat: from + 100 }));
      const first = await c.next();
      if (first.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(first)}`);
      const v = verifyBundle(await entryBundle(t, first.receipt.index), trust, { now: from });
      expect([v.valid, failed(v)]).toEqual([true, []]);
      clockMs = from * 1000; // revokedFrom's first millisecond
      await c.publish(await reading(d, 2, { iat: from + 100 }));
      const second = await c.next();
      expect(second.kind === 'rejection' ? second.rejection.code : 'receipt').toBe('CERT_REVOKED');
    } finally {
      await c.end();
    }
  });
});

describe("the offline verifier's own bounds, on a bundle of a gateway allowing 301 s of skew", () => {
  let t: TestGateway;
  const T = nowS();
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, clockSkewSeconds: SKEW + 1 }, undefined, { now: () => T * 1000 + 999 });
  });
  afterAll(() => t.stop());

  test('iat = receivedAt + 301 verifies with 301 s allowed (trust file, option, CLI --max-skew), CLOCK_SKEW with 300; its block verifies by a clock 301 s behind, not 302', async () => {
    const g = await t.pki.agency('skew.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const c = await connectDevice(t.gw, d);
    let index: number;
    try {
      await c.publish(await reading(d, 1, { iat: T + SKEW + 1 }));
      const a = await c.next();
      if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a)}`);
      index = a.receipt.index;
    } finally {
      await c.end();
    }
    const bundle = await entryBundle(t, index);
    const trust = await gatewayTrust(t); // its clockSkewSeconds: 301
    expect(trust.clockSkewSeconds).toBe(SKEW + 1);
    const verdict = (opts: { now: number; maxClockSkewSeconds?: number }) => failed(verifyBundle(bundle, trust, opts));
    expect(verdict({ now: T })).toEqual([]);
    expect(verdict({ now: T, maxClockSkewSeconds: SKEW + 1 })).toEqual([]);
    expect(verdict({ now: T, maxClockSkewSeconds: SKEW })).toEqual([['checkpoint', 'CLOCK_SKEW']]);
    // the block is dated T (.999): by a verifier clock T - 301 it is within the skew, by T - 302 it is not
    expect(verdict({ now: T - SKEW - 1 })).toEqual([]);
    expect(verdict({ now: T - SKEW - 2 })).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
    // the built CLI (its own clock: T is now, give or take the test's seconds), as users run it
    const bundlePath = join(t.dir, 'b.cbor'), trustPath = join(t.dir, 'trust-served.json');
    await writeFile(bundlePath, encodeProofBundle(bundle));
    await writeFile(trustPath, (await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).body);
    const cli = (skew: number) => {
      const r = spawnSync(process.execPath, ['dist/cli/main.js', 'verify', bundlePath, '--trust', trustPath, '--json', '--max-skew', String(skew)], { encoding: 'utf8' });
      const checks = (JSON.parse(r.stdout) as { checks: { name: string; status: string; code?: string }[] }).checks;
      return [r.status, checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code])];
    };
    expect(cli(SKEW + 1)).toEqual([0, []]);
    expect(cli(SKEW)).toEqual([1, [['checkpoint', 'CLOCK_SKEW']]]);
  });
});
