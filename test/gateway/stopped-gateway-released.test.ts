/**
 * A stopped gateway leaves nothing behind in its process: after close(), with MQTT connections closed cleanly and
 * not (socket destroyed), a reading refused for its topic, HTTP over a real keep-alive socket and a WebSocket
 * listener, the gateway and its parts are collected after a forced GC, and the process has no more file descriptors,
 * handles or process listeners than before. Tests, the bench and the fuzzer start and stop gateways in one process;
 * anything that outlives close() (an interval nothing clears, a listener on `process`, a module-level map holding a
 * closure of the start) would keep the whole gateway (its registry, ledger caches, broker) for good, once per start.
 * The leak hunt (docs/PERFORMANCE.md "Memory over time") found none; this keeps it so.
 */
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, test } from 'vitest';
import { connectDevice, gatewayWithDevices, reading } from './harness.js';

/** `gc()` whether or not the worker was started with --expose-gc (as test/fuzz/helpers.ts gets it). */
function getGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const fds = () => readdirSync('/proc/self/fd').length;
/** Handles that keep the process alive, by kind (timers left out: a harness wait's deadline is harmless). */
function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (r !== 'Timeout' && r !== 'Immediate') out[r] = (out[r] ?? 0) + 1;
  return out;
}
const EVENTS = ['exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'warning', 'SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const processListeners = (): Record<string, number> => Object.fromEntries(EVENTS.map((e) => [e, process.listenerCount(e)]));

const CYCLES = 2;

/**
 * Start a gateway, use it, stop it; weak references to it and its parts go to `refs`. A function of its own: a
 * suspended async function keeps the values of its locals (V8 saves its whole register file at each await), so a
 * gateway held in a local of the test's own body stays reachable from it after the gateway is stopped. That, not the
 * gateway, is what kept "a stopped gateway in memory after forced GC" in a test before this one.
 */
async function startUseStop(i: number, refs: { what: string; ref: WeakRef<object> }[]): Promise<void> {
  const { t, devices } = await gatewayWithDevices(2, { wsPort: 0 });
  const [a, b] = [devices[0]!, devices[1]!];
  const gw = t.gw;
  for (const [what, o] of Object.entries({ gateway: gw, app: gw.app, broker: gw.broker, ledger: gw.ledger, registry: gw.registry, pipeline: gw.pipeline })) {
    refs.push({ what: `${what} ${i}`, ref: new WeakRef(o) });
  }
  // a device that leaves cleanly, after its receipt
  const ca = await connectDevice(gw, a);
  await ca.publish(await reading(a, 1));
  expect((await ca.next()).kind).toBe('receipt');
  await ca.end();
  // one whose socket is destroyed with a reading in flight
  const cb = await connectDevice(gw, b);
  await cb.publish(await reading(b, 1));
  cb.client.stream.destroy();
  cb.client.end(true);
  // one over the WebSocket listener, left connected: the gateway closes it
  await (await connectDevice(gw, a, { url: gw.wsUrl! })).publish(await reading(a, 2));
  // HTTP over a real socket (fetch keeps it alive), and through inject
  expect((await fetch(`${gw.httpUrl}/v1/log`)).status).toBe(200);
  expect((await gw.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
  await t.stop();
}

test(`${CYCLES} gateways started, used and stopped: each collected, no descriptor, handle or process listener left`, async () => {
  const gc = getGc();
  const before = { fds: fds(), handles: handles(), listeners: processListeners() };
  const refs: { what: string; ref: WeakRef<object> }[] = [];
  for (let i = 0; i < CYCLES; i++) await startUseStop(i, refs);
  // Collected: a few full collections, each in a turn of its own (a WeakRef's target is kept to the end of its job).
  let alive: string[] = [];
  const deadline = Date.now() + 3000;
  do {
    await new Promise((r) => setTimeout(r, 50));
    gc();
    alive = refs.filter((r) => r.ref.deref() !== undefined).map((r) => r.what);
  } while (alive.length > 0 && Date.now() < deadline);
  expect(alive, 'parts of stopped gateways still reachable after forced GC').toEqual([]);
  // Sockets closed from the far side (fetch's keep-alive pool) go once their close is read. Counts may also fall (what
  // a file before this one left closing): only growth is a failure.
  const grown = () => [
    ...(fds() > before.fds ? [`file descriptors ${before.fds} -> ${fds()}`] : []),
    ...Object.entries(handles()).filter(([k, n]) => n > (before.handles[k] ?? 0)).map(([k, n]) => `${k} ${before.handles[k] ?? 0} -> ${n}`),
    ...Object.entries(processListeners()).filter(([k, n]) => n > before.listeners[k]!).map(([k, n]) => `process '${k}' listeners ${before.listeners[k]} -> ${n}`),
  ];
  while (grown().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(grown()).toEqual([]);
});
