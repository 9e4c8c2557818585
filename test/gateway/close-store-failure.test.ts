/**
 * The gateway's shutdown when its store's close fails (gateway/gateway.ts close()): close rejects with that failure,
 * and everything else was still done before it, the listeners closed and the security event log's last suppressed
 * counts written (they were written after the store's close, so a failing close lost them). The fault is injected
 * below the fail-stop layer (GatewayRuntime.wrapBackend); the gateway is real (aedes, Fastify, LevelDB in a temp dir).
 */
import { rm } from 'node:fs/promises';
import mqtt from 'mqtt';
import { expect, test } from 'vitest';
import type { LedgerBackend } from '../../ledger/backend.js';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { connectDevice, gatewayWithDevices, type ConnectedDevice } from './harness.js';

type Line = Record<string, unknown> & { event?: string };

/** Until `check` holds, at most 5 s. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

test('a store whose close fails: close rejects with it, after closing the listeners and writing the last suppressed event counts', async () => {
  const lines: Line[] = [];
  let failClose = false;
  const wrapBackend = (inner: LedgerBackend): LedgerBackend =>
    new Proxy(inner, {
      get: (target, prop) => {
        // The real store is closed (its lock let go), then the close is answered as failed.
        if (prop === 'close') return async () => {
          await target.close();
          if (failClose) throw new Error('EIO: close failed (injected)');
        };
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  // One info event a second: the registrations of 3 devices are mostly suppressed, and so are 3 connections in a row.
  const { t, devices } = await gatewayWithDevices(3, { logLevel: 'info', eventLogPerSecond: 1 }, 'env.example', {
    runtime: { logStream: { write: (line) => void lines.push(JSON.parse(line) as Line) }, wrapBackend },
  });
  const gw = t.gw;
  const mqttUrl = plainMqttUrl(gw);
  try {
    await until(() => lines.some((l) => l.event === 'events_suppressed')); // the registrations' report, a second on
    const before = lines.length;
    const clients: ConnectedDevice[] = [];
    for (const d of devices) clients.push(await connectDevice(gw, d));
    await until(() => lines.slice(before).some((l) => l.event === 'mqtt_connected'));
    failClose = true;
    await expect(gw.close()).rejects.toThrow(/EIO: close failed/);

    const reported = lines.slice(before).filter((l) => l.event === 'events_suppressed');
    const counted = reported.reduce((n, l) => n + ((l.suppressed as Record<string, number>).mqtt_connected ?? 0), 0);
    expect(counted + lines.slice(before).filter((l) => l.event === 'mqtt_connected').length).toBe(devices.length);
    expect(counted).toBeGreaterThanOrEqual(2);

    const refused = await mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0, connectTimeout: 2000 }).then(
      async (c) => {
        await c.endAsync();
        return null;
      },
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(refused).toBe('ECONNREFUSED');
    expect(await fetch(`${gw.httpUrl}/healthz`).then(() => 'answered', (err: Error & { cause?: { code?: string } }) => err.cause?.code)).toBe('ECONNREFUSED');
    for (const c of clients) await c.end().catch(() => undefined);
  } finally {
    await gw.close().catch(() => undefined);
    await rm(t.dir, { recursive: true, force: true });
  }
});
