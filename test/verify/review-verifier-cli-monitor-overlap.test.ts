/**
 * Two `monitor` runs on one state file at once (found by review): a cron job of `monitor --once` whose gateway is slow
 * to answer overlaps the next one. Each round loaded the state, talked to the gateway and wrote the state back whole,
 * so a round that had loaded it before another recorded an alarm wrote it back without that alarm: a fork shown to
 * one run was forgotten, though alarms are meant to stay until acknowledged. A round now holds the state file
 * (STATE.lock, with its pid) from loading to saving; another run meanwhile is refused (CONFLICT, exit 2) and records
 * nothing; a lock left by a process that is gone is taken over.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Ledger } from '../../ledger/ledger.js';
import { ed25519NoteSigner } from '../../protocol/checkpoint.js';
import { loadState, monitorOnce } from '../../cli/commands/monitor.js';
import { ORIGIN, reading } from '../ledger/contract.js';
import { serve, type View } from './stand-in-gateway.js';

const signer = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(8));

describe('monitor: one round at a time per state file', () => {
  let dir: string;
  let L: Ledger;
  let current: View;
  let inner: { server: Server; url: string };
  let outer: { server: Server; url: string };
  /** What the front does with the next GET /v1/checkpoints/latest: pass it on, hold it until released, or garble it. */
  let next: 'pass' | 'hold' | 'garble' = 'pass';
  let release: () => void = () => undefined;
  let held: Promise<void> = Promise.resolve();
  let statePath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-monlock-'));
    L = await Ledger.open({ dir: join(dir, 'ledger'), origin: ORIGIN, signer, sync: false });
    await L.appendBlock([reading(0), reading(1)]);
    current = { ledger: L, size: 2 };
    inner = await serve(() => current);
    const server = createServer((req, res) => {
      void (async () => {
        if (req.url === '/v1/checkpoints/latest') {
          const what = next;
          next = 'pass';
          if (what === 'garble') return res.writeHead(200, { 'content-type': 'text/plain' }).end('not a checkpoint\n');
          if (what === 'hold') await new Promise<void>((r) => (release = r));
        }
        const r = await fetch(new URL(req.url!, inner.url));
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' }).end(Buffer.from(await r.arrayBuffer()));
      })().catch((err: Error) => res.writeHead(500).end(err.message));
    });
    outer = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
    statePath = join(dir, 'monitor.json');
  });
  afterAll(async () => {
    release();
    await held;
    await new Promise((r) => outer.server.close(r));
    await new Promise((r) => inner.server.close(r));
    await L.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("a run that overlaps a slow one neither records an alarm that the slow one's save would erase, nor erases one", async () => {
    expect(await monitorOnce({ gateway: outer.url, statePath })).toMatchObject({ status: 'first' });
    next = 'hold';
    const slow = monitorOnce({ gateway: outer.url, statePath });
    held = slow.then(() => undefined, () => undefined);
    while (next === 'hold') await new Promise((r) => setTimeout(r, 10)); // the slow run's request has arrived
    next = 'garble';
    const overlapping = await monitorOnce({ gateway: outer.url, statePath }).then((r) => ({ status: r.status, code: r.code }), (err: { code?: string }) => ({ status: 'refused', code: err.code }));
    next = 'pass';
    release();
    expect(await slow).toMatchObject({ status: 'unchanged' });
    // Either the overlapping run was refused (and recorded nothing), or its alarm is still in the state file.
    const alarms = loadState(statePath, outer.url).alarms;
    if (overlapping.status === 'alarm') expect(alarms).toHaveLength(1);
    else expect([overlapping, alarms.length]).toEqual([{ status: 'refused', code: 'CONFLICT' }, 0]);
    expect(overlapping.status).toBe('refused');
    expect(existsSync(`${statePath}.lock`)).toBe(false);
  });

  test("a lock left by a process that is gone is taken over", async () => {
    writeFileSync(`${statePath}.lock`, '2147483646\n'); // no such process
    expect(await monitorOnce({ gateway: outer.url, statePath })).toMatchObject({ status: 'unchanged' });
    expect(existsSync(`${statePath}.lock`)).toBe(false);
  });

  test('a lock without a process id: held while fresh (CONFLICT), taken over once stale (a crash between create and write)', async () => {
    writeFileSync(`${statePath}.lock`, '');
    await expect(monitorOnce({ gateway: outer.url, statePath })).rejects.toMatchObject({ code: 'CONFLICT' });
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(`${statePath}.lock`, old, old);
    expect(await monitorOnce({ gateway: outer.url, statePath })).toMatchObject({ status: 'unchanged' });
    expect(existsSync(`${statePath}.lock`)).toBe(false);
    rmSync(`${statePath}.lock`, { force: true });
  });
});
