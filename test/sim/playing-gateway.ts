/**
 * A real aedes broker on a loopback port playing the gateway for one onboarded device: a real mqtt.js client takes
 * each reading the device publishes (kept by seq, its exact bytes) and answers only as a test says, so that answers no
 * correct gateway sends can reach the device (hostile-answers.test.ts, bad-receipts-backoff.test.ts).
 */
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import {
  ed25519NoteSigner, encodeLogEntry, ENTRY_READING, EMPTY_REVOCATIONS, formatCheckpoint, formatVerifierKey, leafHash,
  readingSeqOf, revocationsExtension, signNote, type NoteSigner, type Receipt,
} from '../../protocol/index.js';
import { onboardDevice, RootAuthority, type Onboarded } from '../../device-sim/index.js';

export const ORIGIN = 'gw.example/log';
const signer = (label: string) => ed25519NoteSigner(ORIGIN, new TextEncoder().encode(label.padEnd(32, '.')).slice(0, 32));
/** The checkpoint key the device is provisioned with. */
export const gatewayKey = signer('the gateway checkpoint key');
/** A key of the same origin the device does not hold. */
export const otherKey = signer('a key the device does not hold');

export interface PlayingGateway {
  broker: Aedes;
  url: string;
  /** The mqtt.js client that plays the gateway: it takes every device's readings and publishes the test's answers. */
  gateway: MqttClient;
  dir: string;
  /** A water meter onboarded under a fresh root and agency, provisioned with gatewayKey, not registered anywhere. */
  onboarded: Onboarded;
  /** What the playing gateway received, by seq: the reading's exact bytes. */
  received: Map<number, Uint8Array>;
  /** A receipt for `bytes` at a fresh index, its checkpoint signed by `by` (gatewayKey), of size `size(index)` (index + 1). */
  receiptFor(seq: number, bytes: Uint8Array, o?: { by?: NoteSigner; size?: (index: number) => number }): Promise<Receipt>;
  close(): Promise<void>;
}

/** Start the broker and the playing client, and onboard the device (its files in a temp dir named `tmpPrefix`...). */
export async function startPlayingGateway(tmpPrefix: string): Promise<PlayingGateway> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  const gateway = await mqtt.connectAsync(url, { clientId: 'playing-gateway', reconnectPeriod: 0 });
  await gateway.subscribeAsync('op/v1/d/+/readings', { qos: 1 });
  const received = new Map<number, Uint8Array>();
  gateway.on('message', (_topic, payload) => {
    const bytes = new Uint8Array(payload);
    received.set(readingSeqOf(bytes)!, bytes);
  });
  const dir = await mkdtemp(join(tmpdir(), tmpPrefix));
  const root = await RootAuthority.create('root.example');
  const onboarded = await onboardDevice(await root.agency('env.example'), {
    gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: url, aud: 'originproof', checkpointVerifierKey: formatVerifierKey(gatewayKey.name, gatewayKey.publicKey) },
    kind: 'water-meter', dir, register: false,
  });
  let index = 0;
  return {
    broker, url, gateway, dir, onboarded, received,
    async receiptFor(seq, bytes, o = {}) {
      const at = index++;
      const certRef = new Uint8Array(32).fill(7);
      const receivedAtMs = Date.now();
      const entry = encodeLogEntry({ type: ENTRY_READING, index: at, receivedAtMs, payload: bytes, certRef });
      const cp = { origin: ORIGIN, size: o.size ? o.size(at) : at + 1, root: leafHash(entry), extensions: [revocationsExtension(EMPTY_REVOCATIONS)] };
      const checkpoint = await signNote(formatCheckpoint(cp), [o.by ?? gatewayKey]);
      return { seq, index: at, receivedAtMs, certRef, leafHash: leafHash(entry), checkpoint };
    },
    async close() {
      await gateway.endAsync();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
