/**
 * Admission edges found by mutation testing: a device relaying another's reading, a reading naming another device,
 * an agency revoked under a connected device (pipeline, CONNECT, POST /v1/verify), two different envelopes with one
 * seq in flight together, and the exact future bound of the reading clock. Codes only, never messages.
 */
import { describe, expect, test } from 'vitest';
import { CHECK_NAMES, CT_READING, createSign1, deviceIdFromKey, encode, keyThumbprint, readingClaimsToMap, toBase64 } from '../../protocol/index.js';
import { assertReadingClock } from '../../gateway/reading-policy.js';
import { connectDevice, FIRMWARE, gatewayWithDevices, nowS, pubOf, reading, revoke, useGatewayWithDevices, type Answer, type ConnectedDevice } from './harness.js';

const codeOf = (a: Answer) => (a.kind === 'rejection' ? a.rejection.code : a.kind);

async function answerTo(c: ConnectedDevice, bytes: Uint8Array): Promise<Answer> {
  await c.publish(bytes);
  return c.next();
}

/** The code `fn` throws, or null. */
function thrown(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('a reading that is not the connected device\'s own', () => {
  const fx = useGatewayWithDevices(2);

  // guards pipeline.ts: a reading signed by another device than the connected one is UNKNOWN_KEY
  test('device A relays device B\'s signed reading on its own topic: UNKNOWN_KEY, nothing logged', async () => {
    const [a, b] = fx.devices as [typeof fx.dev, typeof fx.dev];
    const c = await connectDevice(fx.t.gw, a);
    try {
      expect(codeOf(await answerTo(c, await reading(b, 1)))).toBe('UNKNOWN_KEY');
    } finally {
      await c.end();
    }
    await fx.t.gw.ledger.flush();
    expect(await fx.t.gw.ledger.findBySeq(a.id, 1)).toBeUndefined();
    expect(await fx.t.gw.ledger.findBySeq(b.id, 1)).toBeUndefined();
  });

  // guards protocol/reading.ts checkReading: the ueid must be the signing device's
  test('device A signs a reading whose claims name device B: CLAIM_INVALID', async () => {
    const [a, b] = fx.devices as [typeof fx.dev, typeof fx.dev];
    const c = await connectDevice(fx.t.gw, a);
    try {
      // signed by hand: signReading itself refuses a ueid that is not the signer's
      const claims = { deviceId: deviceIdFromKey(pubOf(b.signer)), seq: 2, iat: nowS(), firmware: FIRMWARE, body: { kind: 'sensor' as const, type: 'temperature', value: 1, scale: 0, unit: 'Cel' } };
      const bytes = await createSign1({ signer: a.signer, payload: encode(readingClaimsToMap(claims)), kid: keyThumbprint(pubOf(a.signer)), contentType: CT_READING });
      expect(codeOf(await answerTo(c, bytes))).toBe('CLAIM_INVALID');
    } finally {
      await c.end();
    }
  });
});

describe('an agency revoked by the root', () => {
  // guards registry.ts assertDeviceUsableAt: the agency's revocation refuses readings and CONNECT
  test('a device connected before: its reading is CERT_REVOKED; connecting afterwards is CONNACK 5', async () => {
    const { t, agency, dev } = await gatewayWithDevices(1).then((g) => ({ ...g, dev: g.devices[0]! }));
    try {
      const c = await connectDevice(t.gw, dev);
      expect((await revoke(t.gw, t.pki.root, agency.cert, nowS() - 60)).status).toBe(201);
      try {
        expect(codeOf(await answerTo(c, await reading(dev, 1)))).toBe('CERT_REVOKED');
      } finally {
        await c.end();
      }
      await expect(connectDevice(t.gw, dev)).rejects.toMatchObject({ code: 5 });
      expect(thrown(() => t.gw.authenticateDevice(dev.id, new Uint8Array(1)))).toBe('CERT_REVOKED');
    } finally {
      await t.stop();
    }
  });

  // guards http/routes/verify.ts: agency-revoked fails the revocation check
  test('POST /v1/verify {envelope} of its device\'s reading: revocation fails CERT_REVOKED', async () => {
    const { t, agency, devices } = await gatewayWithDevices(1);
    try {
      expect((await revoke(t.gw, t.pki.root, agency.cert, nowS() - 60)).status).toBe(201);
      const res = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(await reading(devices[0]!, 1)) } });
      expect(res.statusCode).toBe(200);
      const v = res.json() as { valid: boolean; checks: { name: string; status: string; code?: string }[] };
      expect(v.checks.map((x) => x.name)).toEqual([...CHECK_NAMES]);
      expect(v.checks.slice(0, 4).map((x) => [x.name, x.status, x.code ?? ''])).toEqual([
        ['signature', 'pass', ''], ['chain', 'pass', ''], ['revocation', 'fail', 'CERT_REVOKED'], ['claims', 'pass', ''],
      ]);
      expect(v.valid).toBe(false);
    } finally {
      await t.stop();
    }
  });
});

// guards lane-admission.ts resendOrReplay: only the very same bytes follow a pending reading; other bytes are REPLAY
test('another envelope with the seq of a reading still on its way into a block: REPLAY; the first gets its receipt', async () => {
  const { t, devices } = await gatewayWithDevices(1, { blockMaxMs: 1500 });
  const dev = devices[0]!;
  try {
    const first = await reading(dev, 1);
    const other = await reading(dev, 1, { body: { kind: 'sensor', type: 'temperature', value: 999, scale: -1, unit: 'Cel' } });
    const c = await connectDevice(t.gw, dev);
    try {
      await Promise.all([c.publish(first), c.publish(other)]);
      // REPLAY comes first: the second was judged while the first waited for its block (1.5 s)
      expect([codeOf(await c.next()), codeOf(await c.next())]).toEqual(['REPLAY', 'receipt']);
    } finally {
      await c.end();
    }
    expect(Buffer.from((await t.gw.ledger.findBySeq(dev.id, 1))!.payload)).toEqual(Buffer.from(first));
  } finally {
    await t.stop();
  }
});

// guards reading-policy.ts assertReadingClock: the future bound is exactly clockSkewSeconds
test('assertReadingClock: clockSkewSeconds ahead is accepted, one second more is CLOCK_SKEW', () => {
  const now = 1_700_000_000, limits = { clockSkewSeconds: 300, maxReadingAgeSeconds: 600 };
  expect(thrown(() => assertReadingClock(now + 300, now, limits))).toBeNull();
  expect(thrown(() => assertReadingClock(now + 301, now, limits))).toBe('CLOCK_SKEW');
});
