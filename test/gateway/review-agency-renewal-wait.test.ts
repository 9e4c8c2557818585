/**
 * Review of agency renewals racing readings (gateway/registry.ts registerAgency, gateway/lane-admission.ts pump): a
 * reading of an agency's device that reaches its turn while a new certificate for the agency's key (a renewal, or a
 * move to another root) is being logged lands in the log after that entry. Found by review: it was checked and logged
 * under the replaced agency certificate, so
 * - a reading the new certificate's chain refuses got a receipt, and its proof bundle (which carries the agency
 *   certificate valid at the reading's time, the new one) failed offline: here an agency moved to a root whose trust
 *   window starts after the reading's time;
 * - a reading the replaced certificate refuses (expired or revoked at its time, not valid yet) was refused, though the
 *   renewal logged before it allows it (CERT_EXPIRED and CERT_REVOKED tell a device to stop sending, SPEC §8).
 * The device's readings now wait for the agency's renewal as they wait for their own (AgencyRecord.replacing).
 */
import { describe, expect, test } from 'vitest';
import { verifyBundle, type DecodedCertificate } from '../../protocol/index.js';
import { BlockWriteHold } from './block-hold.js';
import { agencyCert, DAY, failedChecks as failed, outcomeCode as code, stopAfterEach, TwoRoots } from './agency-roots.js';
import { entryBundle, gatewayTrust, nowS, Pki, reading, register, revoke, startTestGateway, type TestGateway } from './harness.js';

const track = stopAfterEach();

async function start(pki: Pki, hold: BlockWriteHold, agencyWindow: { nbf?: number; exp?: number } = {}) {
  const t = track(await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 50 }, undefined, { wrapBackend: hold.wrap }));
  const g = await pki.agency('renewing.example', agencyWindow);
  const d = await pki.device(g);
  await register(t.gw, g, [d]);
  return { t, g, d };
}

/**
 * Register `renewal` with its block write held; meanwhile `readings` are taken by the pipeline and given time to reach
 * their turn; then the write goes on. Returns the readings' outcomes and the renewal's log index.
 */
async function duringRenewal(t: TestGateway, hold: BlockWriteHold, renewal: DecodedCertificate, readings: Uint8Array[], deviceId: string) {
  let release!: () => void;
  let entered!: () => void;
  const reached = new Promise<void>((r) => (entered = r));
  hold.entered = () => entered();
  hold.before = new Promise<void>((r) => (release = r));
  const registering = t.gw.registry.registerAgency(renewal.bytes);
  await reached;
  const outcomes = readings.map((r) => t.gw.pipeline.process(deviceId, r, Date.now()));
  await new Promise((r) => setTimeout(r, 300)); // signature checked, at its turn in the lane
  hold.before = null;
  hold.entered = null;
  release();
  const { record, created } = await registering;
  expect(created).toBe(true);
  return { outcomes: await Promise.all(outcomes), index: record.index };
}

describe('review: readings at their turn while their agency\'s new certificate is logged', () => {
  // Since review-time's root-window fallback (Registry.standing), merged with this review: a reading dated before the
  // second root's window is checked under the first root's certificate of its time, as its bundle carries it; before
  // that it was refused CERT_NOT_YET_VALID here (the offline verifier passes it: suspected by this review).
  test('agency moved to a root trusted only from after the reading\'s time: the reading is accepted under the first root\'s chain of its time, and its bundle verifies offline; not accepted under the replaced one with a bundle that fails', async () => {
    const now = nowS();
    const pki = await TwoRoots.withSecond(now - 3600);
    const hold = new BlockWriteHold();
    const { t, g, d } = await start(pki, hold);
    expect((await revoke(t.gw, pki.root, g.cert, now - 600, 'affiliationChanged')).status).toBe(201); // released by its root
    const moved = await agencyCert(pki.root2, g, { iat: now, nbf: now - 2 * DAY, exp: now + 365 * DAY });
    const before = await reading(d, 1, { iat: now - 7200 }); // valid under the first root's chain, before the second's window
    const { outcomes: [o] } = await duringRenewal(t, hold, moved, [before], d.id);
    expect(code(o!)).toBe('accepted');
    if (o!.ok) expect(failed(verifyBundle(await entryBundle(t, o!.receipt.index), await gatewayTrust(t)))).toEqual([]);
    // As the same reading (another seq) is answered now that the move is registered.
    const later = await t.gw.pipeline.process(d.id, await reading(d, 2, { iat: now - 7200 }), Date.now());
    expect(code(later)).toBe('accepted');
    if (later.ok) expect(failed(verifyBundle(await entryBundle(t, later.receipt.index), await gatewayTrust(t)))).toEqual([]);
  }, 20_000);

  test('renewal after a revocation of the agency (superseded): a reading dated after revokedFrom is accepted under the renewal, logged after it, and verifies offline', async () => {
    const now = nowS();
    const pki = await Pki.create();
    const hold = new BlockWriteHold();
    const { t, g, d } = await start(pki, hold);
    expect((await revoke(t.gw, pki.root, g.cert, now - 600, 'superseded')).status).toBe(201);
    const renewal = await agencyCert(pki.root, g, { iat: now, nbf: now - DAY, exp: now + 365 * DAY });
    const { outcomes: [o], index } = await duringRenewal(t, hold, renewal, [await reading(d, 1, { iat: now - 60 })], d.id);
    expect(code(o!)).toBe('accepted');
    if (!o!.ok) return;
    expect(o!.receipt.index).toBeGreaterThan(index);
    expect(failed(verifyBundle(await entryBundle(t, o!.receipt.index), await gatewayTrust(t)))).toEqual([]);
  }, 20_000);

  test('renewal extending the agency\'s window (expiring now, starting later than the reading): readings after the old expiry and before its start are accepted, and verify offline', async () => {
    const now = nowS();
    const pki = await Pki.create();
    const hold = new BlockWriteHold();
    const { t, g, d } = await start(pki, hold, { nbf: now - 3600, exp: now + 100 });
    const renewal = await agencyCert(pki.root, g, { iat: now, nbf: now - 2 * DAY, exp: now + 365 * DAY });
    const readings = [await reading(d, 1, { iat: now - 7200 }), await reading(d, 2, { iat: now + 150 })];
    const { outcomes, index } = await duringRenewal(t, hold, renewal, readings, d.id);
    expect(outcomes.map(code)).toEqual(['accepted', 'accepted']);
    const trust = await gatewayTrust(t);
    for (const o of outcomes) {
      if (!o.ok) continue;
      expect(o.receipt.index).toBeGreaterThan(index);
      expect(failed(verifyBundle(await entryBundle(t, o.receipt.index), trust))).toEqual([]);
    }
  }, 20_000);

  test('the renewal\'s block write fails: the waiting reading is answered (STORAGE_UNAVAILABLE), not held, and the agency waits for nothing after', async () => {
    const now = nowS();
    const pki = await Pki.create();
    const hold = new BlockWriteHold();
    const { t, g, d } = await start(pki, hold);
    const renewal = await agencyCert(pki.root, g, { iat: now, nbf: now - DAY, exp: now + 365 * DAY });
    const record = t.gw.registry.agencyById(g.cert.claims.sub)!;
    let fail!: (e: Error) => void;
    let entered!: () => void;
    const reached = new Promise<void>((r) => (entered = r));
    hold.entered = () => entered();
    hold.before = new Promise<void>((_, reject) => (fail = reject));
    hold.before.catch(() => undefined);
    const registering = t.gw.registry.registerAgency(renewal.bytes).then(() => 'registered', (e: { code?: string }) => e.code);
    await reached;
    expect(record.replacing).toBeDefined();
    const waiting = t.gw.pipeline.process(d.id, await reading(d, 1), Date.now());
    await new Promise((r) => setTimeout(r, 200));
    hold.before = null;
    hold.entered = null;
    fail(new Error('EIO: i/o error (injected)'));
    expect(await registering).toBe('STORAGE_UNAVAILABLE');
    expect(code(await waiting)).toBe('STORAGE_UNAVAILABLE');
    expect(record.replacing).toBeUndefined();
    expect(record.cert.certRef).toEqual(g.cert.certRef);
  }, 20_000);
});
