/**
 * POST /v1/verify against a real gateway (inject()): an envelope is judged as the pipeline would judge it (the
 * gateway's clock, its max reading age, its maxReadingBytes, the device's last accepted sequence number), one check
 * per name in CHECK_NAMES order, and it is valid only as the very envelope the log holds (then its bundle is
 * verified and the record names its entry); a bundle is verified with the gateway's clockSkewSeconds, so a reading
 * it admitted under a wider allowance than the default 300 s verifies, and GET /v1/trust publishes that allowance.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHECK_NAMES, decodeProofBundle, encodeProofBundle, parseTrust, sha256, toBase64, utf8ToBytes, verifyBundle } from '../../protocol/index.js';
import { certify, connectDevice, Pki, nowS, postCert, reading, register, revoke, startTestGateway, type ConnectedDevice, type Device, type TestGateway } from './harness.js';

interface CheckOut {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  code?: string;
  message: string;
}
interface VerdictOut {
  valid: boolean;
  checks: CheckOut[];
  record?: Record<string, unknown>;
}

async function verdict(t: TestGateway, what: 'envelope' | 'bundle', bytes: Uint8Array): Promise<VerdictOut> {
  const res = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { [what]: toBase64(bytes) } });
  expect(res.statusCode).toBe(200);
  return res.json() as VerdictOut;
}

/** [name, status, code] per check; and every check name exactly once, in CHECK_NAMES order. */
function rows(v: VerdictOut): [string, string, string][] {
  expect(v.checks.map((c) => c.name)).toEqual([...CHECK_NAMES]);
  return v.checks.map((c) => [c.name, c.status, c.code ?? '']);
}

const check = (v: VerdictOut, name: string) => v.checks.find((c) => c.name === name)!;

async function published(c: ConnectedDevice, bytes: Uint8Array) {
  await c.publish(bytes);
  return c.next();
}

const NOT_LOGGED_TAIL: [string, string, string][] = [
  ['inclusion', 'skip', ''],
  ['checkpoint', 'skip', ''],
  ['consistency', 'skip', ''],
];

describe('POST /v1/verify {envelope}: the pipeline\'s checks, and valid only for the logged envelope', () => {
  let t: TestGateway;
  let dev: Device;
  let big: Device;
  const BIG_TYPE = 'temperature-of-the-cold-room-nw1';
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5, maxReadingAgeSeconds: 600, maxReadingBytes: 256 });
    const psb = await pki.agency('psb.example');
    dev = await pki.device(psb);
    big = await pki.device(psb, { types: [BIG_TYPE] });
    await register(t.gw, psb, [dev, big]);
  });
  afterAll(() => t.stop());

  test('an envelope the log does not hold: every check once, the log checks skip, not valid, no placeholder record fields', async () => {
    const v = await verdict(t, 'envelope', await reading(dev, 77));
    expect(rows(v)).toEqual([['signature', 'pass', ''], ['chain', 'pass', ''], ['revocation', 'pass', ''], ['claims', 'pass', ''], ...NOT_LOGGED_TAIL]);
    expect(check(v, 'inclusion').message).toMatch(/not in the log/);
    expect(v.valid).toBe(false);
    expect(v.record).toMatchObject({ entryType: 1, deviceId: dev.id, seq: 77, agency: 'psb.example' });
    for (const k of ['index', 'treeSize', 'receivedAtMs']) expect(v.record).not.toHaveProperty(k);
  });

  test('CLOCK_SKEW as the pipeline says: dated beyond clockSkewSeconds ahead of now, or older than maxReadingAgeSeconds', async () => {
    const ahead = await reading(dev, 78, { iat: nowS() + 300 + 120 });
    const old = await reading(dev, 79, { iat: nowS() - 600 - 120 });
    for (const bytes of [ahead, old]) {
      const v = await verdict(t, 'envelope', bytes);
      expect(rows(v)).toEqual([['signature', 'pass', ''], ['chain', 'pass', ''], ['revocation', 'pass', ''], ['claims', 'fail', 'CLOCK_SKEW'], ...NOT_LOGGED_TAIL]);
      expect(v.valid).toBe(false);
    }
    const c = await connectDevice(t.gw, dev);
    try {
      for (const bytes of [ahead, old]) {
        const a = await published(c, bytes);
        expect(a.kind === 'rejection' ? a.rejection.code : a.kind).toBe('CLOCK_SKEW');
      }
    } finally {
      await c.end();
    }
  });

  test('the logged envelope is valid and names its entry; the same or a lower seq with other bytes is REPLAY', async () => {
    const c = await connectDevice(t.gw, dev);
    const logged = await reading(dev, 5);
    let index: number;
    try {
      expect((await published(c, await reading(dev, 3))).kind).toBe('receipt');
      const a = await published(c, logged);
      if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a.rejection)}`);
      index = a.receipt.index;
    } finally {
      await c.end();
    }
    const v = await verdict(t, 'envelope', logged);
    expect(rows(v).map((r) => r[1])).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'skip']);
    expect(v.valid).toBe(true);
    expect(v.record).toMatchObject({ index, entryType: 1, deviceId: dev.id, seq: 5 });
    expect(v.record?.treeSize).toBeGreaterThan(index);

    const other = { kind: 'sensor' as const, type: 'temperature', value: 1, scale: 0, unit: 'Cel' };
    for (const seq of [5, 4]) {
      const r = await verdict(t, 'envelope', await reading(dev, seq, { body: other }));
      expect(rows(r)).toEqual([['signature', 'pass', ''], ['chain', 'pass', ''], ['revocation', 'pass', ''], ['claims', 'fail', 'REPLAY'], ...NOT_LOGGED_TAIL]);
      expect(r.valid).toBe(false);
    }
    // above the last accepted seq: admissible, but still not in the log
    const next = await verdict(t, 'envelope', await reading(dev, 6));
    expect([check(next, 'claims').status, next.valid]).toEqual(['pass', false]);
  });

  test('a refused claim is listed once, under claims (FIRMWARE_MISMATCH, TYPE_NOT_ALLOWED)', async () => {
    const fw = await verdict(t, 'envelope', await reading(dev, 80, { firmware: sha256(utf8ToBytes('other firmware')) }));
    expect(rows(fw)).toEqual([['signature', 'pass', ''], ['chain', 'pass', ''], ['revocation', 'pass', ''], ['claims', 'fail', 'FIRMWARE_MISMATCH'], ...NOT_LOGGED_TAIL]);
    const type = await verdict(t, 'envelope', await reading(dev, 81, { body: { kind: 'sensor', type: 'pm25', value: 1, scale: 0, unit: 'ug/m3' } }));
    expect(check(type, 'claims').code).toBe('TYPE_NOT_ALLOWED');
    expect(type.checks.filter((c) => c.name === 'claims')).toHaveLength(1);
  });

  test('BAD_SIGNATURE under signature; a key no device has: chain UNKNOWN_KEY, the rest not checked', async () => {
    const bad = Uint8Array.from(await reading(dev, 82));
    bad[bad.length - 1]! ^= 1;
    const b = await verdict(t, 'envelope', bad);
    expect(rows(b)).toEqual([['signature', 'fail', 'BAD_SIGNATURE'], ['chain', 'pass', ''], ['revocation', 'pass', ''], ['claims', 'pass', ''], ...NOT_LOGGED_TAIL]);
    const pki = await Pki.create();
    const stranger = await pki.device(await pki.agency('other.example'));
    const u = await verdict(t, 'envelope', await reading(stranger, 1));
    expect(rows(u)).toEqual([['signature', 'skip', ''], ['chain', 'fail', 'UNKNOWN_KEY'], ['revocation', 'skip', ''], ['claims', 'skip', ''], ...NOT_LOGGED_TAIL]);
    expect(u.valid).toBe(false);
  });

  test("TOO_LARGE above the gateway's maxReadingBytes (256 here, not the library's 1024), as the pipeline says", async () => {
    const bytes = await reading(big, 2 ** 40, { body: { kind: 'sensor', type: BIG_TYPE, value: 2 ** 50, scale: 0, unit: 'Cel.per.decade.x' } });
    expect(bytes.length).toBeGreaterThan(256);
    expect(bytes.length).toBeLessThanOrEqual(1024);
    const v = await verdict(t, 'envelope', bytes);
    expect(rows(v)).toEqual([
      ['signature', 'skip', ''], ['chain', 'skip', ''], ['revocation', 'skip', ''], ['claims', 'fail', 'TOO_LARGE'], ...NOT_LOGGED_TAIL,
    ]);
    const c = await connectDevice(t.gw, big);
    try {
      const a = await published(c, bytes);
      expect(a.kind === 'rejection' ? a.rejection.code : a.kind).toBe('TOO_LARGE');
    } finally {
      await c.end();
    }
  });
});

describe('clockSkewSeconds above 300: the gateway verifies what it admitted, and publishes its allowance', () => {
  let t: TestGateway;
  let dev: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5, clockSkewSeconds: 900 });
    const psb = await pki.agency('psb.example');
    dev = await pki.device(psb);
    await register(t.gw, psb, [dev]);
  });
  afterAll(() => t.stop());

  test('a reading dated now+600 is admitted, and its bundle and its envelope verify valid through /v1/verify', async () => {
    const bytes = await reading(dev, 1, { iat: nowS() + 600 });
    const c = await connectDevice(t.gw, dev);
    let index: number;
    try {
      const a = await published(c, bytes);
      if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a.rejection)}`);
      index = a.receipt.index;
    } finally {
      await c.end();
    }
    const bundle = new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` })).rawPayload);
    const b = await verdict(t, 'bundle', bundle);
    expect(rows(b).map((r) => r[1])).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'skip']);
    expect(b.valid).toBe(true);
    const e = await verdict(t, 'envelope', bytes);
    expect([e.valid, e.record?.index]).toEqual([true, index]);
    // An envelope not yet logged, dated 600 s ahead: within this gateway's allowance.
    const ahead = await verdict(t, 'envelope', await reading(dev, 2, { iat: nowS() + 600 }));
    expect([check(ahead, 'claims').status, ahead.valid]).toEqual(['pass', false]);

    // GET /v1/trust publishes the allowance; an offline verifier needs it (with the default 300 s: CLOCK_SKEW). The
    // trust material carries it, so verifying with that material uses it.
    const trustJson = (await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json();
    expect(trustJson.clockSkewSeconds).toBe(900);
    const trust = parseTrust(trustJson);
    expect(trust.clockSkewSeconds).toBe(900);
    expect(verifyBundle(decodeProofBundle(bundle), trust).valid).toBe(true);
    const strict = verifyBundle(decodeProofBundle(bundle), trust, { maxClockSkewSeconds: 300 });
    expect([strict.valid, strict.checks.find((x) => x.name === 'checkpoint')?.code]).toEqual([false, 'CLOCK_SKEW']);
  });
});

describe("POST /v1/verify {bundle}: the revocation check with the log's whole revocation list", () => {
  let t: TestGateway;
  let dev: Device;
  let psb: Awaited<ReturnType<Pki['agency']>>;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
    psb = await pki.agency('psb.example');
    dev = await pki.device(psb);
    await register(t.gw, psb, [dev]);
  });
  afterAll(() => t.stop());

  test('a bundle stripped of its revocation is CERT_REVOKED all the same; an unrevoked one says complete up to the latest checkpoint', async () => {
    const c = await connectDevice(t.gw, dev);
    let index: number;
    try {
      const a = await published(c, await reading(dev, 1));
      if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a.rejection)}`);
      index = a.receipt.index;
    } finally {
      await c.end();
    }
    const fetch = async () => decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` })).rawPayload));
    const before = await verdict(t, 'bundle', encodeProofBundle(await fetch()));
    expect(before.valid).toBe(true);
    const size = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json().treeSize as number;
    expect(check(before, 'revocation').message).toContain(`complete up to tree size ${size}: the log's 0 revocation(s) below it`);
    // a key compromise reported later, dated from before the reading
    expect((await revoke(t.gw, psb, dev.cert, nowS() - 3600, 'keyCompromise')).status).toBe(201);
    const stripped = { ...(await fetch()), revocations: [] };
    expect(verifyBundle(stripped, parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json())).valid).toBe(true); // offline, the bundle alone
    const v = await verdict(t, 'bundle', encodeProofBundle(stripped));
    expect([v.valid, check(v, 'revocation').status, check(v, 'revocation').code]).toEqual([false, 'fail', 'CERT_REVOKED']);
  });
  // The list's agency revocations come with their certificates (protocol/agency-renewal.ts): without them a revocation
  // of an agency's earlier, superseded certificate could not be placed (UNKNOWN_KEY), and one of its renewed,
  // revoked certificate was passed over in a bundle carrying the earlier one.
  test('an agency renewed: its superseded certificate passed over (valid), a revoked renewal caught in a bundle carrying the earlier one', async () => {
    const readingOf = async (d: Device) => {
      const c = await connectDevice(t.gw, d);
      try {
        const a = await published(c, await reading(d, 1));
        if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a.rejection)}`);
        return async () => decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${a.receipt.index}/bundle` })).rawPayload));
      } finally {
        await c.end();
      }
    };
    const g = await t.pki.agency('superseded.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS() - 600))).status).toBe(201);
    expect((await revoke(t.gw, t.pki.root, g.cert, nowS() - 300, 'superseded')).status).toBe(201);
    const honest = await verdict(t, 'bundle', encodeProofBundle(await (await readingOf(d))()));
    expect([honest.valid, rows(honest).filter((r) => r[1] === 'fail')]).toEqual([true, []]);

    const h = await t.pki.agency('swapped.example');
    const e = await t.pki.device(h);
    await register(t.gw, h, [e]);
    const h2 = await certify(t.pki.root, h, 'agency', nowS() - 600);
    expect((await postCert(t, 'agencies', h2)).status).toBe(201);
    const fetch = await readingOf(e);
    expect((await revoke(t.gw, t.pki.root, h2, nowS() - 120, 'cessationOfOperation')).status).toBe(201);
    const swapped = { ...(await fetch()), certificates: [e.cert.bytes, h.cert.bytes], revocations: [] };
    const v = await verdict(t, 'bundle', encodeProofBundle(swapped));
    expect([v.valid, check(v, 'revocation').status, check(v, 'revocation').code]).toEqual([false, 'fail', 'CERT_REVOKED']);
  });
});
