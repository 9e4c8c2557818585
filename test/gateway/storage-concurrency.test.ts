/**
 * The store's failure and recovery paths under concurrency (found by an independent review; each test failed before
 * its fix). The gateway is real (aedes, Fastify, LevelDB in a temp dir or on a real full tmpfs); faults are injected
 * below the fail-stop layer through GatewayRuntime.wrapBackend, as in storage-recovery.test.ts.
 * - F1: a block whose write began before a connect token's write failed (ENOSPC) was receipted, then gone after the
 *   reopen, and the next block signed a second checkpoint at its size: writes are now one at a time
 *   (gateway/storage/fail-stop-backend.ts). Mounts a tmpfs (root or CAP_SYS_ADMIN, as test/crash/disk-full.test.ts).
 * - F2: a read straddling the reopen answered 500 and leaked a segment file handle.
 * - F3: an error closing a segment file left LevelDB's lock held, and recovery never completed.
 * - F4: readings refused before they were opened (store unavailable, shutting down) named no seq.
 */
import fsp, { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { BlockWrite, LedgerBackend } from '../../ledger/backend.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import { parseCheckpoint, parseNote, toBase64 } from '../../protocol/index.js';
import { connectDevice, Pki, reading, register, startTestGateway, type Answer, type Device } from './harness.js';
import { mountTmpfs, type Tmpfs } from '../crash/tmpfs.js';
import { failStoreWith } from './storage-faults.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Faults below the FailStopBackend, on every LevelDB backend the gateway opens (the first and each reopened one). */
class Faults {
  failWrites = false;
  /** Set: the next getTiles waits until a backend has been closed (recovery closing the old store), then reads. */
  holdTilesUntilClose = false;
  /** Set: the next writeBlock, having passed the fail-stop check above, waits here (as in its segment write and fdatasync). */
  blockGate: Promise<void> | null = null;
  blockHeld: (() => void) | null = null;
  #onClosed: (() => void)[] = [];

  readonly wrap = (inner: LedgerBackend): LedgerBackend => {
    const faults = this;
    return new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'writeBlock') {
          return async (b: BlockWrite) => {
            if (faults.failWrites) throw new Error('EIO: i/o error (injected)');
            const gate = faults.blockGate;
            if (gate) {
              faults.blockGate = null;
              faults.blockHeld?.();
              await gate;
            }
            return target.writeBlock(b);
          };
        }
        if (prop === 'getTiles') {
          return async (ids: Parameters<LedgerBackend['getTiles']>[0]) => {
            if (faults.holdTilesUntilClose) {
              faults.holdTilesUntilClose = false;
              await new Promise<void>((r) => faults.#onClosed.push(r));
            }
            return target.getTiles(ids);
          };
        }
        if (prop === 'close') {
          return async () => {
            try {
              await target.close();
            } finally {
              for (const f of faults.#onClosed.splice(0)) f();
            }
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
}

interface Fixture {
  gw: RunningGateway;
  agencyDevices: Device[];
  dev: Device;
  faults: Faults;
  dir: string;
  cleanup: () => Promise<void>;
}

let current: Fixture | null = null;
const restores: (() => void)[] = [];
afterEach(async () => {
  for (const r of restores.splice(0)) r();
  const f = current;
  current = null;
  if (!f) return;
  f.faults.failWrites = false;
  f.faults.blockGate = null;
  await Promise.race([f.gw.close(), sleep(5_000)]);
  await f.cleanup();
});

async function start(opts: { readings?: number; devices?: number; tmpfs?: Tmpfs } = {}): Promise<Fixture> {
  const dir = opts.tmpfs?.dir ?? (await mkdtemp(join(tmpdir(), 'op-storage-conc-')));
  const pki = await Pki.create();
  const faults = new Faults();
  const { gw } = await startTestGateway(pki, {}, dir, { wrapBackend: faults.wrap });
  const agency = await pki.agency('psb.example');
  const devices: Device[] = [];
  for (let i = 0; i < (opts.devices ?? 1); i++) devices.push(await pki.device(agency));
  const cleanup = opts.tmpfs ? () => opts.tmpfs!.unmount() : () => rm(dir, { recursive: true, force: true });
  current = { gw, agencyDevices: devices, dev: devices[0]!, faults, dir, cleanup };
  await register(gw, agency, devices);
  const c = await connectDevice(gw, devices[0]!);
  for (let s = 0; s < (opts.readings ?? 0); s++) {
    await c.publish(await reading(devices[0]!, s));
    expect((await c.next()).kind).toBe('receipt');
  }
  await c.end();
  return current;
}

/** Fail the store: a reading is answered STORAGE_UNAVAILABLE, readiness turns red. */
const failStore = (f: Fixture, seq: number): Promise<void> => failStoreWith(f.gw, f.dev, seq, () => (f.faults.failWrites = true));

async function readyWithin(gw: RunningGateway, ms: number): Promise<number> {
  const until = Date.now() + ms;
  let status = 0;
  while (Date.now() < until) {
    status = (await gw.app.inject({ url: '/readyz' })).statusCode;
    if (status === 200) break;
    await sleep(20);
  }
  return status;
}

/** Open file descriptors of this process that point into `dir`. */
async function fdsUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir)) out.push(target.slice(dir.length));
  }
  return out.sort();
}

const sizeAndRoot = (note: string) => {
  const cp = parseCheckpoint(parseNote(note).text);
  return { size: cp.size, root: toBase64(cp.root) };
};

describe('F1: writes to the store are one at a time', () => {
  test('disk full (real tmpfs) while a block is being written and devices connect: a receipted block is in the log after the reopen, under the checkpoint its receipt carries', async () => {
    const fs = await mountTmpfs(32);
    const f = await start({ devices: 2, tmpfs: fs });
    const [a, b] = f.agencyDevices as [Device, Device];
    const ca = await connectDevice(f.gw, a);
    const held = new Promise<void>((r) => (f.faults.blockHeld = r));
    let release!: () => void;
    f.faults.blockGate = new Promise<void>((r) => (release = r));
    void ca.publish(await reading(a, 0));
    await held; // A's block passed FailStopBackend's check; it is writing its segments (held here)
    const sizeBefore = f.gw.ledger.size();
    await fs.fill();
    // Devices connect meanwhile; one token write hits ENOSPC in LevelDB's log: the store has failed (CONNACK 3).
    let refused: unknown;
    let stop = false;
    const connecting = (async () => {
      for (let i = 0; i < 200 && refused === undefined && !stop; i++) {
        try {
          await (await connectDevice(f.gw, b)).end();
        } catch (err) {
          refused = (err as { code?: unknown }).code ?? err;
        }
      }
    })();
    const until = Date.now() + 5_000;
    while (refused === undefined && Date.now() < until) await sleep(20);
    const failedMeanwhile = (await f.gw.app.inject({ url: '/readyz' })).json() as { code?: string };
    stop = true;
    await fs.free(); // space comes back (a temp file deleted)
    release();
    await connecting;
    const answer: Answer = await ca.next();
    await ca.end();
    expect(await readyWithin(f.gw, 10_000)).toBe(200);
    // Expected: A's reading is refused STORAGE_UNAVAILABLE (the store had failed before its block reached LevelDB),
    // or, if receipted, it is in the log after the reopen and the log's checkpoint at that size is the receipt's.
    if (answer.kind === 'rejection') {
      expect(answer.rejection.code).toBe('STORAGE_UNAVAILABLE'); // not any rejection: the one the comment above names
      return;
    }
    const receipted = answer.receipt;
    const after = { size: f.gw.ledger.size(), entry: (await f.gw.ledger.ledger.getEntry(receipted.index)) !== undefined };
    // Another reading after recovery (a new block) brings the log to at least the receipt's tree size again.
    const cb = await connectDevice(f.gw, b);
    await cb.publish(await reading(b, 0));
    await cb.next();
    await cb.end();
    const inReceipt = sizeAndRoot(receipted.checkpoint);
    const res = await f.gw.app.inject({ url: `/v1/checkpoints/${inReceipt.size}` });
    const logged = res.statusCode === 200 ? sizeAndRoot(res.body) : res.statusCode;
    const seen = { storeFailedMeanwhile: failedMeanwhile.code ?? 'no', refused, sizeBefore, receiptedIndex: receipted.index, ...after, inReceipt, logged };
    expect(seen).toMatchObject({ entry: true, logged: inReceipt });
  });
});

describe('F2: HTTP reads in flight while recovery reopens the store', () => {
  test('a proof bundle whose reads straddle the close of the old store: 503 STORAGE_UNAVAILABLE (or a correct answer), not 500 INTERNAL', async () => {
    const f = await start({ readings: 3 });
    await failStore(f, 3);
    // The bundle request starts on the old (failed, still open) store; its tile read comes after recovery closed it.
    f.faults.holdTilesUntilClose = true;
    const pending = f.gw.app.inject({ url: '/v1/entries/3/bundle?format=json' });
    f.faults.failWrites = false; // recovery: probe, close the old store, reopen
    const res = await pending;
    expect(await readyWithin(f.gw, 10_000)).toBe(200);
    expect({ status: res.statusCode, code: (res.json() as { code?: string }).code }).toEqual({ status: 503, code: 'STORAGE_UNAVAILABLE' });
  });

  test('that read leaves no segment file handle open once the gateway has closed', async () => {
    const f = await start({ readings: 3 });
    await failStore(f, 3);
    f.faults.holdTilesUntilClose = true;
    const pending = f.gw.app.inject({ url: '/v1/entries/3/bundle?format=json' });
    f.faults.failWrites = false;
    await pending;
    expect(await readyWithin(f.gw, 10_000)).toBe(200);
    await f.gw.close();
    expect(await fdsUnder(f.dir)).toEqual([]);
  });
});

describe('F3: an error closing the old store during recovery', () => {
  test('a segment file whose close reports EIO once: LevelDB is closed anyway, recovery completes, nothing stays open after close()', async () => {
    // Segment files are opened through node:fs/promises `open` (entry-segments.ts): wrap the writer's handles so
    // that the next close, once armed, closes the descriptor and then reports EIO (as close(2) may on NFS).
    let armed = false;
    const realOpen = fsp.open;
    (fsp as { open: typeof fsp.open }).open = (async (path: Parameters<typeof fsp.open>[0], flags?: string | number, mode?: number) => {
      const fh = await realOpen(path, flags, mode);
      if (typeof flags === 'number' && String(path).endsWith('.cbor')) {
        const close = fh.close.bind(fh);
        (fh as { close: () => Promise<void> }).close = async () => {
          await close();
          if (armed) {
            armed = false;
            throw Object.assign(new Error('EIO: i/o error, close (injected)'), { code: 'EIO' });
          }
        };
      }
      return fh;
    }) as typeof fsp.open;
    syncBuiltinESMExports();
    restores.push(() => {
      (fsp as { open: typeof fsp.open }).open = realOpen;
      syncBuiltinESMExports();
    });
    const f = await start({ readings: 1 });
    await failStore(f, 1);
    armed = true;
    f.faults.failWrites = false; // the disk is fine again: recovery should reopen within a few probes
    const status = await readyWithin(f.gw, 8_000);
    const reopenError = await f.gw.ledger.reopen().then(() => null, (e: unknown) => `${(e as Error).message}: ${(e as { cause?: Error }).cause?.message ?? ''}`);
    await f.gw.close();
    const left = await fdsUnder(f.dir);
    expect({ status, reopenError, fdsLeftAfterClose: left }).toEqual({ status: 200, reopenError: null, fdsLeftAfterClose: [] });
  });
});

describe('F4: refusals of well-formed readings name their seq', () => {
  test('SPEC §8: STORAGE_UNAVAILABLE while the store is failed, and UNAVAILABLE at shutdown, name the reading\'s seq', async () => {
    const f = await start({ readings: 1, devices: 2 });
    const other = f.agencyDevices[1]!;
    const c = await connectDevice(f.gw, other); // connected before the failure: it stays connected
    await failStore(f, 1); // the first device's reading fails its block
    await c.publish(await reading(other, 0)); // a well-formed reading, seq 0, while the store is failed
    const a = await c.next();
    await c.end();
    const duringFailure = a.kind === 'rejection' ? { code: a.rejection.code, seq: a.rejection.seq } : a.kind;
    f.faults.failWrites = false;
    expect(await readyWithin(f.gw, 10_000)).toBe(200);
    const late = await reading(f.dev, 3);
    const closing = f.gw.close(); // shutdown: readings are refused UNAVAILABLE from here on
    const out = await f.gw.pipeline.process(f.dev.id, late, Date.now());
    await closing;
    const duringShutdown = out.ok ? 'receipt' : { code: out.error.code, seq: out.seq };
    expect({ duringFailure, duringShutdown }).toEqual({ duringFailure: { code: 'STORAGE_UNAVAILABLE', seq: 0 }, duringShutdown: { code: 'UNAVAILABLE', seq: 3 } });
  });
});
