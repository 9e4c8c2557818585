/**
 * A connection whose subscription to the answers is refused (SUBACK 0x80, SPEC §4: such a connection gets no
 * answers) is closed by the device, which connects again after its backoff. Found by review: the device gave up on
 * the attempt but left the connection open, holding a broker session that could carry no answers, until the next
 * attempt replaced it. A real aedes broker on a loopback port refuses every subscription here.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ed25519NoteSigner, formatVerifierKey } from '../../protocol/index.js';
import { Device, onboardDevice, RootAuthority } from '../../device-sim/index.js';

const key = ed25519NoteSigner('gw.example/log', new Uint8Array(32).fill(6));

describe('a subscription refused', () => {
  let broker: Aedes;
  let server: Server;
  let url: string;
  let live = 0;
  beforeAll(async () => {
    broker = await Aedes.createBroker({ authorizeSubscribe: (_client, _sub, cb) => cb(null, null) });
    broker.on('client', () => void live++);
    broker.on('clientDisconnect', () => void live--);
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('the connection is closed, and the device connects again after its backoff', async () => {
    const agency = await (await RootAuthority.create('root.example')).agency('env.example');
    const o = await onboardDevice(agency, {
      gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: url, aud: 'originproof', checkpointVerifierKey: formatVerifierKey(key.name, key.publicKey) }, kind: 'water-meter', register: false,
    });
    const d = new Device({ state: o.state, se: o.se, reconnectMinMs: 4_000, reconnectMaxMs: 8_000, random: () => 0, log: () => undefined });
    const scheduled: number[] = [];
    d.on('reconnect-scheduled', (ms: number) => scheduled.push(ms));
    try {
      await expect(d.connect()).rejects.toThrow(/Subscribe error/);
      expect(d.isConnected).toBe(false);
      await until(() => live === 0, 1_000); // closed by the device, not left until the next attempt (2 s away)
      expect(scheduled).toEqual([2_000]); // one retry, on the reconnect schedule
    } finally {
      await d.close();
    }
  });
});

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  for (const end = Date.now() + timeoutMs; !cond(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error('timed out');
}
