/**
 * `sim run` stopped with SIGINT or SIGTERM mid-run, as an operator stops a run of hours (Ctrl-C, a service manager).
 * Found by the simulator review: the process died at once, with no summary of what it had measured (and the progress
 * bar's cursor left hidden). Now it stops making readings, waits for the answers to those in flight, closes the
 * devices (outbox logs written, locks let go), prints the summary saying when it stopped, and exits 128 + the
 * signal's number. Nothing is lost or doubled: the gateway's log holds each receipted reading once, and the next run
 * continues. A real gateway (in process, port 0) and fleet; the built CLI (dist/) as a child process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { entriesOf, simGatewayFixture, until } from '../sim/helpers.js';
import { simRunChild } from './sim-run-child.js';

/** The seqs an outbox log still keeps (its "+seq" lines less its "-seq" lines). */
function keptIn(path: string): number[] {
  const kept = new Set<number>();
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    const seq = Number(l.slice(1).split(' ')[0]);
    if (l.startsWith('+')) kept.add(seq);
    else if (l.startsWith('-')) kept.delete(seq);
  }
  return [...kept];
}

describe('sim run stopped by a signal', () => {
  const f = simGatewayFixture('op-sim-run-signal-', { fleet: 2 });

  const logged = async () => (await Promise.all(f.ids.map((id) => entriesOf(f.t, id)))).flat().map((e) => e.reading.seq);

  test.each([['SIGINT', 130], ['SIGTERM', 143]] as const)('%s: the summary of what was sent, exit %i; nothing kept, no lock left, nothing doubled', async (sig, code) => {
    const before = (await logged()).length;
    const { t, fleet, ids } = f;
    const run = simRunChild(['--fleet', fleet, '--rate', '40', '--duration', '60s', '--json', '--no-progress']);
    await until(async () => (await logged()).length >= before + 20, 20_000);
    run.child.kill(sig);
    expect(await run.exited).toEqual([code, null]);
    expect(run.err()).toContain(`${sig}: stopping`);
    const s = JSON.parse(run.out()) as { sent: number; receipted: number; pending: number; stoppedAfterMs: number | null; durationMs: number };
    expect(s.stoppedAfterMs).toBeGreaterThan(0);
    expect(s.stoppedAfterMs).toBeLessThan(s.durationMs);
    expect(s.sent).toBeGreaterThanOrEqual(20);
    expect([s.receipted, s.pending]).toEqual([s.sent, 0]);
    expect(readdirSync(fleet).filter((name) => name.endsWith('.lock'))).toEqual([]);
    for (const id of ids) expect(keptIn(join(fleet, `${id}.outbox.log`))).toEqual([]); // every removal written at close
    // every receipted reading is in the log once
    await until(async () => (await logged()).length === before + s.receipted);
    const seqs = await Promise.all(ids.map(async (id) => (await entriesOf(t, id)).map((e) => e.reading.seq)));
    for (const x of seqs) expect(new Set(x).size).toBe(x.length);
  }, 60_000);

  // Found after the review: a signal while the fleet connected waited for every attempt's outcome (up to the 5 s
  // connect timeout against a broker that does not answer) and then said the devices "could not connect" (exit 1 in
  // the summary's terms). Now the attempts in flight are ended: no reading made, no connect failure counted.
  test('SIGINT while the fleet connects: the attempts ended, not counted as failures; exit 130, no lock left', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s.resume())); // takes the TCP connection, reads, never answers the CONNECT
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const run = simRunChild(['--fleet', f.fleet, '--mqtt', `mqtt://127.0.0.1:${port}`, '--rate', '40', '--duration', '60s', '--json', '--no-progress']);
      await until(() => sockets.length >= f.ids.length, 20_000);
      run.child.kill('SIGINT');
      expect(await run.exited).toEqual([130, null]);
      const s = JSON.parse(run.out()) as { connected: number; connectFailures: Record<string, number>; sent: number; stoppedAfterMs: number | null };
      expect([s.connected, s.connectFailures, s.sent]).toEqual([0, {}, 0]);
      expect(s.stoppedAfterMs).not.toBeNull();
      expect(run.err()).not.toContain('could not connect');
      expect(run.err()).toContain(`${f.ids.length} of ${f.ids.length} devices had not connected when the run was stopped`);
      expect(readdirSync(f.fleet).filter((name) => name.endsWith('.lock'))).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  }, 60_000);
});
