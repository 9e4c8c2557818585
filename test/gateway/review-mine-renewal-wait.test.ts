/**
 * Review of the renewal wait (gateway/registry.ts DeviceRecord.replacing, gateway/lane-admission.ts pump): a device's
 * readings wait while a new certificate for it is being logged. Checked: the wait ends when the renewal's block
 * fails (storage failure: the readings are refused, not held), at shutdown, and over renewals in a row, where every
 * accepted reading is logged under the device certificate in force at its place in the log.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { BlockWrite, LedgerBackend } from '../../ledger/backend.js';
import { decodeCertificate, decodeLogEntry, ENTRY_DEVICE_REGISTRATION, issueCertificate, toHex } from '../../protocol/index.js';
import type { Outcome } from '../../gateway/pipeline.js';
import { certify, connectDevice, FIRMWARE, kidOf, nowS, possessionFor, pubOf, Pki, reading, register, startTestGateway, type TestGateway } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const code = (o: Outcome) => (o.ok ? 'accepted' : o.error.code);

/** Block writes below the fail-stop layer: failed (EIO) while `fail`, held while `held` is set. */
class Writes {
  fail = false;
  held: Promise<void> | null = null;
  readonly wrap = (inner: LedgerBackend): LedgerBackend =>
    new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'writeBlock') {
          return async (b: BlockWrite) => {
            if (this.held) await this.held;
            if (this.fail) throw new Error('EIO: i/o error (injected)');
            return target.writeBlock(b);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
}

let open: TestGateway | null = null;
afterEach(async () => {
  const t = open;
  open = null;
  await t?.stop();
});

async function start(writes: Writes, overrides: Record<string, unknown> = {}) {
  const pki = await Pki.create();
  const t = (open = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 100, ...overrides }, undefined, { wrapBackend: writes.wrap }));
  const g = await pki.agency('renewal-wait.example');
  const d = await pki.device(g);
  await register(t.gw, g, [d]);
  return { t, g, d, record: t.gw.registry.deviceById(d.id)! };
}

async function untilReady(t: TestGateway, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while ((await t.gw.app.inject({ url: '/readyz' })).statusCode !== 200) {
    if (Date.now() > until) throw new Error('not ready');
    await sleep(20);
  }
}

describe('review: readings waiting for a renewal', () => {
  test('the renewal\'s block fails: the waiting reading is refused STORAGE_UNAVAILABLE (once), the renewal too; after recovery both are taken', async () => {
    const writes = new Writes();
    const { t, g, d, record } = await start(writes);
    const renewed = await certify(g, d, 'device', nowS());
    writes.fail = true;
    const registering = t.gw.registry.registerDevice(renewed.bytes).then(() => 'registered', (e: { code?: string }) => e.code);
    while (!record.replacing) await new Promise((r) => setImmediate(r));
    let answers = 0;
    const waiting = t.gw.pipeline.process(d.id, await reading(d, 1), Date.now()).then((o) => (answers++, o));
    expect(await registering).toBe('STORAGE_UNAVAILABLE');
    expect(code(await waiting)).toBe('STORAGE_UNAVAILABLE');
    expect(record.replacing).toBeUndefined();
    writes.fail = false;
    await untilReady(t);
    const before = await t.gw.pipeline.process(d.id, await reading(d, 1), Date.now());
    expect(before.ok ? toHex(before.receipt.certRef) : before.error.code).toBe(toHex(d.cert.certRef)); // the renewal was not stored
    expect((await t.gw.registry.registerDevice(renewed.bytes)).created).toBe(true);
    const after = await t.gw.pipeline.process(d.id, await reading(d, 2), Date.now());
    expect(after.ok ? toHex(after.receipt.certRef) : after.error.code).toBe(toHex(renewed.certRef));
    expect(answers).toBe(1);
  }, 30_000);

  test('shutdown while a device\'s reading waits for a renewal whose block write is held: close() ends, the reading gets its receipt under the renewal', async () => {
    const writes = new Writes();
    const { t, g, d, record } = await start(writes);
    const renewed = await certify(g, d, 'device', nowS());
    const c = await connectDevice(t.gw, d);
    let release!: () => void;
    writes.held = new Promise<void>((r) => (release = r));
    const registering = t.gw.registry.registerDevice(renewed.bytes);
    while (!record.replacing) await new Promise((r) => setImmediate(r));
    await c.publish(await reading(d, 1));
    const answer = c.next();
    while (t.gw.pipeline.oldestInFlightMs() === undefined) await sleep(5); // taken, waiting in its lane
    const closing = t.gw.close();
    await sleep(300);
    writes.held = null;
    release();
    const a = await answer;
    await closing;
    expect((await registering).created).toBe(true);
    expect(a.kind === 'receipt' ? toHex(a.receipt.certRef) : a.rejection.code).toBe(toHex(renewed.certRef));
    await c.end().catch(() => undefined);
    open = null;
  }, 30_000);

  test('renewals in a row, readings all along: each accepted reading is logged under the certificate in force at its place in the log', async () => {
    const writes = new Writes();
    const { t, g, d } = await start(writes, { blockMaxMs: 50 });
    // Issued a second apart from one clock reading: three reads of nowS() gave two equal iats when a second boundary
    // fell between the first and the second.
    const at = nowS();
    const certs = [await certify(g, d, 'device', at - 2), await certify(g, d, 'device', at - 1), await certify(g, d, 'device', at)];
    const outcomes: Promise<Outcome>[] = [];
    const regs = certs.map((c) => t.gw.registry.registerDevice(c.bytes));
    for (let seq = 1; seq <= 30; seq++) {
      outcomes.push(t.gw.pipeline.process(d.id, await reading(d, seq), Date.now()));
      await sleep(seq % 3 === 0 ? 15 : 0);
    }
    for (const r of regs) expect((await r).created).toBe(true);
    const done = await Promise.all(outcomes);
    expect(done.filter((o) => !o.ok).map(code)).toEqual([]);
    const registrations: { index: number; certRef: string }[] = [];
    for (const index of await t.gw.ledger.ledger.indexesByType(ENTRY_DEVICE_REGISTRATION)) {
      const cert = decodeCertificate(decodeLogEntry((await t.gw.ledger.ledger.getEntry(index))!).payload);
      if (cert.claims.sub === d.id) registrations.push({ index, certRef: toHex(cert.certRef) });
    }
    expect(registrations.length).toBe(4);
    for (const o of done) {
      if (!o.ok) continue;
      const inForce = registrations.filter((r) => r.index < o.receipt.index).at(-1)!;
      expect([o.receipt.index, toHex(o.receipt.certRef)]).toEqual([o.receipt.index, inForce.certRef]);
    }
  }, 30_000);
});

describe('review: a reading refused by the replaced certificate while it waits for the renewal', () => {
  test('a humidity reading arriving while a renewal that allows humidity is logged (the replaced certificate does not): accepted under the renewal, logged after it', async () => {
    const writes = new Writes();
    const { t, g, d, record } = await start(writes, { blockMaxMs: 300 });
    const now = nowS();
    const temperatureOnly = await certify(g, d, 'device', now - 5);
    expect((await t.gw.registry.registerDevice(temperatureOnly.bytes)).created).toBe(true);
    const both = decodeCertificate(
      await issueCertificate(g.signer, kidOf(g.signer), {
        iss: g.cert.claims.sub, sub: d.id, role: 'device', holderKey: pubOf(d.signer), iat: now, nbf: now - 60, exp: now + 86_400,
        profile: { kind: 'temperature-sensor', readingTypes: ['temperature', 'humidity'], firmware: FIRMWARE },
        proofOfPossession: await possessionFor(d.signer, g.cert.claims.sub),
      }),
    );
    const registering = t.gw.registry.registerDevice(both.bytes);
    while (!record.replacing) await new Promise((r) => setImmediate(r));
    const humidity = { kind: 'sensor', type: 'humidity', value: 40, scale: 0, unit: '%RH' } as const;
    const forged = await reading(d, 1, { body: humidity });
    forged[forged.length - 1]! ^= 1; // its signature no longer verifies: checked all the same
    const biometric = await reading(d, 1, { body: { kind: 'sensor', type: 'pressure', value: 1013, scale: 0, unit: 'hPa' } }); // allowed by neither
    const [bad, notAllowed, o] = await Promise.all([
      t.gw.pipeline.process(d.id, forged, Date.now()),
      t.gw.pipeline.process(d.id, biometric, Date.now()),
      t.gw.pipeline.process(d.id, await reading(d, 1, { body: humidity }), Date.now()),
    ]);
    expect([code(bad), code(notAllowed)]).toEqual(['BAD_SIGNATURE', 'TYPE_NOT_ALLOWED']);
    const { record: renewed } = await registering;
    expect(o.ok ? toHex(o.receipt.certRef) : o.error.code).toBe(toHex(both.certRef));
    if (o.ok) expect(o.receipt.index).toBeGreaterThan(renewed.index);
  }, 30_000);
});
