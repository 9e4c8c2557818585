/**
 * Storage recovery (gateway/storage/recovery.ts) against failures that come while it runs. The gateway is real
 * (aedes, Fastify, LevelDB in a temp dir); faults are injected below the fail-stop layer, in the LevelDB backend
 * (GatewayRuntime.wrapBackend, as the crash points wrap it): writes fail as on a full disk, and the registry reload
 * that recovery runs after reopening the store can be paused or made to fail a read.
 *
 * Checked: a registry write arriving during the reload is refused with STORAGE_UNAVAILABLE and reaches no store;
 * a write the reopened store fails while recovery runs is not lost (readiness stays red, recovery starts over);
 * a failed reload is retried; after each, readings and registry writes are taken again.
 */
import { mkdtemp, open as openFile, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { BlockWrite, LedgerBackend } from '../../ledger/backend.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import { ENTRY_AGENCY_REGISTRATION } from '../../protocol/log-entry.js';
import { toBase64, utf8ToBytes } from '../../protocol/index.js';
import { connectDevice, connectsRefused, Pki, post, reading, register, startTestGateway, type Device, type Party } from './harness.js';
import { failStoreWith } from './storage-faults.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Flip a bit in the first `inner` inside `outer` in the ledger's entry segment files, in place (the store open). */
async function flipInSegments(dir: string, outer: Uint8Array, inner: Uint8Array): Promise<void> {
  const ent = join(dir, 'data', 'ledger', 'entries');
  for (const name of await readdir(ent)) {
    if (!name.endsWith('.cbor')) continue;
    const file = join(ent, name);
    const buf = await readFile(file);
    const at = buf.indexOf(outer);
    if (at < 0) continue;
    const i = at + Buffer.from(outer).indexOf(inner) + 3;
    const fh = await openFile(file, 'r+');
    await fh.write(Uint8Array.of(buf[i]! ^ 0x01), 0, 1, i);
    await fh.close();
    return;
  }
  throw new Error('not in the segment files');
}

/** Faults below the FailStopBackend, on every LevelDB backend the gateway opens (the first and each reopened one). */
class Faults {
  /** Writes fail (EIO) while set. */
  failWrites = false;
  /** Writes that reached a backend while `failWrites` was set, and in total. */
  refusedWrites = 0;
  writes = 0;
  /** Registry reloads started (each scans agency registrations first). */
  reloads = 0;
  /** Runs once, at the start of the next registry reload, before it reads anything. */
  duringReload: (() => Promise<void>) | null = null;
  /** Fail this many registry-event reads (EIO). */
  failReads = 0;

  readonly wrap = (inner: LedgerBackend): LedgerBackend => {
    const write = async (fn: () => Promise<void>): Promise<void> => {
      this.writes++;
      if (this.failWrites) {
        this.refusedWrites++;
        throw new Error('EIO: i/o error (injected)');
      }
      await fn();
    };
    const faults = this;
    async function* typeHits(type: number, opts: Parameters<LedgerBackend['typeHits']>[1]): AsyncIterable<number> {
      if (type === ENTRY_AGENCY_REGISTRATION) {
        faults.reloads++;
        const hook = faults.duringReload;
        faults.duringReload = null;
        await hook?.();
      }
      if (faults.failReads > 0) {
        faults.failReads--;
        throw new Error('EIO: read error (injected)');
      }
      yield* inner.typeHits(type, opts);
    }
    return new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'writeBlock') return (b: BlockWrite) => write(() => target.writeBlock(b));
        if (prop === 'writeMeta') return (m: Uint8Array) => write(() => target.writeMeta(m));
        if (prop === 'typeHits') return typeHits;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
}

interface Fixture {
  gw: RunningGateway;
  pki: Pki;
  agency: Party;
  dev: Device;
  faults: Faults;
  dir: string;
}

let open: Fixture | null = null;
afterEach(async () => {
  const f = open;
  open = null;
  if (!f) return;
  f.faults.failWrites = false;
  await f.gw.close();
  await rm(f.dir, { recursive: true, force: true });
});

async function start(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'op-recovery-'));
  const pki = await Pki.create();
  const faults = new Faults();
  const { gw } = await startTestGateway(pki, {}, dir, { wrapBackend: faults.wrap });
  const agency = await pki.agency('psb.example');
  const dev = await pki.device(agency);
  open = { gw, pki, agency, dev, faults, dir };
  await register(gw, agency, [dev]);
  return open;
}

async function readyz(gw: RunningGateway): Promise<{ status: number; code: unknown }> {
  const res = await gw.app.inject({ url: '/readyz' });
  return { status: res.statusCode, code: (res.json() as { code?: unknown }).code };
}

async function storageWritable(gw: RunningGateway): Promise<string | undefined> {
  const text = (await gw.app.inject({ url: '/metrics' })).body;
  return /^originproof_storage_writable (\d+)$/m.exec(text)?.[1];
}

/** Poll /readyz until 200; every status seen on the way, with the reloads started when it was seen. */
async function untilReady(f: Fixture, ms = 10_000): Promise<{ status: number; reloads: number }[]> {
  const seen: { status: number; reloads: number }[] = [];
  const until = Date.now() + ms;
  for (;;) {
    const reloads = f.faults.reloads;
    const { status } = await readyz(f.gw);
    seen.push({ status, reloads });
    if (status === 200) return seen;
    if (Date.now() > until) throw new Error(`not ready within ${ms} ms: ${JSON.stringify(seen.slice(-3))}`);
    await sleep(20);
  }
}

/** Fail the store: the device's reading is answered STORAGE_UNAVAILABLE, readiness turns red. */
async function failStore(f: Fixture, seq: number): Promise<void> {
  await failStoreWith(f.gw, f.dev, seq, () => (f.faults.failWrites = true));
  expect(await readyz(f.gw)).toEqual({ status: 503, code: 'STORAGE_UNAVAILABLE' });
}

/** A reading of `dev` gets a receipt (on a fresh connection: recovery closes the ones from before). */
async function receipted(f: Fixture, dev: Device, seq: number): Promise<void> {
  const c = await connectDevice(f.gw, dev);
  await c.publish(await reading(dev, seq));
  const a = await c.next();
  expect(a.kind === 'rejection' ? a.rejection.code : a.kind).toBe('receipt');
  await c.end();
}

describe('storage recovery with failures while it runs', () => {
  test('a CONNECT while the store cannot be written is refused with CONNACK 3 (STORAGE_UNAVAILABLE: its token cannot be recorded as used); accepted again after recovery', async () => {
    const f = await start();
    await failStore(f, 0);
    let code: unknown = 'connected';
    try {
      await connectDevice(f.gw, f.dev);
    } catch (err) {
      code = (err as { code?: unknown }).code;
    }
    expect(code).toBe(3);
    expect(await connectsRefused(f.gw, 'STORAGE_UNAVAILABLE')).toBe(1);
    f.faults.failWrites = false;
    await untilReady(f);
    await receipted(f, f.dev, 0);
  });

  test('a registry write during the registry reload is refused (503 STORAGE_UNAVAILABLE) and reaches no store; then all is taken again', async () => {
    const f = await start();
    await failStore(f, 0);
    const extra = await f.pki.device(f.agency);
    expect((await post(f.gw, '/v1/devices', { certificate: toBase64(extra.cert.bytes) })).body.code).toBe('STORAGE_UNAVAILABLE');

    // The disk is still failing when recovery reopens the store (its probe file went through); a registration
    // comes in while the registry is being reloaded from the reopened store.
    let during: { status: number; code: unknown } | undefined;
    let writesDuring = -1;
    let readyDuring: { status: number; code: unknown } | undefined;
    f.faults.duringReload = async () => {
      const before = f.faults.writes;
      const r = await post(f.gw, '/v1/devices', { certificate: toBase64(extra.cert.bytes) });
      during = { status: r.status, code: r.body.code };
      writesDuring = f.faults.writes - before;
      readyDuring = await readyz(f.gw);
      f.faults.failWrites = false; // the disk is fine from here on
    };
    await untilReady(f);
    expect(during).toEqual({ status: 503, code: 'STORAGE_UNAVAILABLE' });
    expect(writesDuring).toBe(0);
    expect(readyDuring).toEqual({ status: 503, code: 'STORAGE_UNAVAILABLE' });
    expect(await storageWritable(f.gw)).toBe('1');

    // Readings and registry writes are taken again: the refused reading resent, the refused registration too.
    await receipted(f, f.dev, 0);
    expect((await post(f.gw, '/v1/devices', { certificate: toBase64(extra.cert.bytes) })).status).toBe(201);
    await receipted(f, extra, 0);
  });

  test('a write the reopened store fails while recovery runs is not lost: readiness stays red, recovery starts over and then succeeds', async () => {
    const f = await start();
    await failStore(f, 0);
    f.faults.failWrites = false;
    const base = f.faults.reloads; // the one at start
    // During the first reload, something writes to the reopened store (through the ledger's own handle, below the
    // gateway's hold on writes) and the disk fails it: a second failure, reported while recovery runs.
    let second: unknown;
    f.faults.duringReload = async () => {
      f.faults.failWrites = true;
      second = await f.gw.ledger.ledger.submit({ type: ENTRY_AGENCY_REGISTRATION, payload: utf8ToBytes('not written') }).catch((e: unknown) => e);
      f.faults.failWrites = false;
    };
    const seen = await untilReady(f);
    expect((second as { code?: unknown }).code).toBe('STORAGE_UNAVAILABLE');
    // Ready only after a second reopen and reload: the attempt that saw the failure did not resume.
    expect(seen.at(-1)!.reloads - base).toBeGreaterThanOrEqual(2);
    expect(f.faults.refusedWrites).toBe(2); // the first failure and the second; nothing else reached the disk while failing
    await receipted(f, f.dev, 0);
    const extra = await f.pki.device(f.agency);
    expect((await post(f.gw, '/v1/devices', { certificate: toBase64(extra.cert.bytes) })).status).toBe(201);
  });

  test('a reload that fails to read is retried; readiness green only once one has succeeded', async () => {
    const f = await start();
    await failStore(f, 0);
    f.faults.failWrites = false;
    const base = f.faults.reloads; // the one at start
    f.faults.failReads = 1;
    const seen = await untilReady(f);
    expect(f.faults.failReads).toBe(0);
    expect(seen.at(-1)!.reloads - base).toBeGreaterThanOrEqual(2);
    await receipted(f, f.dev, 0);
  });

  test("a registry entry the reload finds damaged stops recovery: not retried, writes stay refused, readiness red saying so; the entry's reads 500 naming it", async () => {
    const f = await start();
    await failStore(f, 0);
    const index = (await f.gw.app.inject({ url: `/v1/devices/${f.dev.id}` })).json().registeredAt as number;
    // Meanwhile a byte of the device's registration changes on disk (its profile's kind: the entry still decodes).
    await flipInSegments(f.dir, f.dev.cert.bytes, utf8ToBytes('temperature-sensor'));
    const base = f.faults.reloads;
    f.faults.failWrites = false;
    for (const until = Date.now() + 10_000; f.faults.reloads === base; await sleep(20)) {
      if (Date.now() > until) throw new Error('no reload within 10 s');
    }
    const writes = f.faults.writes;
    await sleep(2_000); // four retry periods: no attempt after the one that found the damage
    expect(f.faults.reloads - base).toBe(1);
    const ready = await f.gw.app.inject({ url: '/readyz' });
    expect([ready.statusCode, ready.json().code]).toEqual([503, 'STORAGE_UNAVAILABLE']);
    expect(ready.json().message).toMatch(/store is damaged/);
    expect(await storageWritable(f.gw)).toBe('0');
    const extra = await f.pki.device(f.agency);
    expect((await post(f.gw, '/v1/devices', { certificate: toBase64(extra.cert.bytes) })).body.code).toBe('STORAGE_UNAVAILABLE');
    await expect(connectDevice(f.gw, f.dev)).rejects.toMatchObject({ code: 3 });
    const entry = await f.gw.app.inject({ url: `/v1/entries/${index}` });
    expect([entry.statusCode, entry.json().code]).toEqual([500, 'INTERNAL']);
    expect(entry.json().message).toMatch(new RegExp(`^entry ${index} is damaged`));
    expect(f.faults.writes).toBe(writes); // nothing reached the reopened store
  });

  test('a second failure after a recovery is a new episode and recovers too', async () => {
    const f = await start();
    await failStore(f, 0);
    f.faults.failWrites = false;
    await untilReady(f);
    await receipted(f, f.dev, 0);
    await failStore(f, 1);
    expect(await storageWritable(f.gw)).toBe('0');
    f.faults.failWrites = false;
    await untilReady(f);
    await receipted(f, f.dev, 1);
    const metrics = (await f.gw.app.inject({ url: '/metrics' })).body;
    expect(/^originproof_storage_failures_total (\d+)$/m.exec(metrics)?.[1]).toBe('2');
  });
});
