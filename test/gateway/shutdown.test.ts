/**
 * Graceful shutdown (RunningGateway.close, what SIGINT/SIGTERM run) against connections that would hold it open:
 * MQTT connections that have not sent CONNECT (on each listener), and HTTP requests that never finish. The pending
 * block is sealed and receipted first either way; what is checked here is that the close then finishes promptly.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { connectDevice, gatewayWithDevices, reading } from './harness.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'tls', name);
const portOf = (url: string) => Number(new URL(url).port);

/** A TCP connection that says nothing (or only `text`); resolves once connected. */
function silent(port: number, text?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => {
      if (text !== undefined) s.write(text);
      resolve(s);
    });
    s.on('error', () => undefined);
    setTimeout(() => reject(new Error('no connection')), 5000).unref();
  });
}

async function timed(close: () => Promise<void>): Promise<number> {
  const t0 = Date.now();
  await close();
  return Date.now() - t0;
}

describe('graceful shutdown', () => {
  // Found by review: close() waited for every connection that had not sent CONNECT to hit mqttConnectTimeoutMs
  // (10 s by default, up to 600 s configured): one port scanner or TCP health check held the shutdown that long.
  test('MQTT connections that never sent CONNECT (plain, TLS, WebSocket) do not hold the shutdown until the CONNECT timeout', async () => {
    const { t, devices } = await gatewayWithDevices(1, {
      mqttTlsPort: 0, wsPort: 0, tlsCertFile: fixture('gateway.pem'), tlsKeyFile: fixture('gateway.key'), mqttConnectTimeoutMs: 60_000,
    });
    const dev = devices[0]!;
    const c = await connectDevice(t.gw, dev);
    await c.publish(await reading(dev, 1));
    const sockets = [await silent(t.gw.mqttPort!), await silent(t.gw.mqttTlsPort!), await silent(portOf(t.gw.wsUrl!))];
    const ws = new WebSocket(`wss://127.0.0.1:${portOf(t.gw.wsUrl!)}/mqtt`, 'mqtt', { rejectUnauthorized: false });
    ws.on('error', () => undefined);
    await new Promise((r) => ws.once('open', r)); // upgraded, no CONNECT
    const answer = c.next();
    const took = await timed(() => t.stop());
    expect((await answer).kind).toBe('receipt'); // the pending block was still sealed and receipted
    expect(took).toBeLessThan(5000);
    for (const s of sockets) s.destroy();
    ws.terminate();
  }, 30_000);

  test('a plain WebSocket port connection that never upgrades does not hold the shutdown', async () => {
    const { t } = await gatewayWithDevices(0, { wsPort: 0, mqttConnectTimeoutMs: 60_000 });
    const s = await silent(portOf(t.gw.wsUrl!), 'GET /mqtt HTTP/1.1\r\nHost: x\r\n');
    expect(await timed(() => t.stop())).toBeLessThan(5000);
    s.destroy();
  }, 30_000);

  // Found by review: an HTTP request whose headers or body never finish held app.close(), and with it the
  // process, forever (the API sets no request timeout); a second signal was ignored too (cli gateway-start test).
  for (const https of [false, true]) {
    test(`HTTP${https ? 'S' : ''} requests that never finish (handshake, headers, body) hold the shutdown only for a short grace period`, async () => {
      const { t } = await gatewayWithDevices(0, https ? { httpTls: true, tlsCertFile: fixture('gateway.pem'), tlsKeyFile: fixture('gateway.key') } : {});
      const sockets = [await silent(t.gw.httpPort)];
      if (!https) {
        sockets.push(await silent(t.gw.httpPort, 'GET /healthz HTTP/1.1\r\nHost: x\r\n'));
        sockets.push(await silent(t.gw.httpPort, 'POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":'));
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(await timed(() => t.stop())).toBeLessThan(8000);
      for (const s of sockets) s.destroy();
    }, 60_000);
  }
});
