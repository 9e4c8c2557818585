/**
 * A device follows the gateway's checkpoint key as it is handed over (SPEC §7, "A new checkpoint key";
 * protocol/checkpoint-handover.ts): a receipt whose checkpoint announces a next key, signed by both, makes the device
 * keep that key as its next one, in its state file at once; the first checkpoint signed by the next key alone makes
 * it current; a checkpoint of the old key alone then fails (CHECKPOINT_INVALID, the reading kept). The gateway's side
 * of a rotation is not built yet, so a real aedes broker on a loopback port plays the gateway here: a real mqtt.js
 * client takes each reading the device publishes and answers it with a receipt whose checkpoint the test signs.
 * It also plays a hostile broker: a receipt held back and replayed when the device resends its reading (an older
 * checkpoint) changes none of the device's keys.
 */
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ed25519NoteSigner, encodeLogEntry, encodeReceipt, ENTRY_READING, EMPTY_REVOCATIONS, formatCheckpoint, formatVerifierKey, leafHash,
  nextKeyExtension, readingSeqOf, receiptsTopic, revocationsExtension, signNote, type NoteSigner,
} from '../../protocol/index.js';
import { Device, onboardDevice, readState, RootAuthority, type Onboarded } from '../../device-sim/index.js';

const ORIGIN = 'gw.example/log';
const signer = (label: string) => ed25519NoteSigner(ORIGIN, new TextEncoder().encode(label.padEnd(32, '.')).slice(0, 32));
const k1 = signer('current checkpoint key');
const k2 = signer('next checkpoint key');
const k3 = signer('key after the next one');
const vkey = (s: NoteSigner & { publicKey: Uint8Array }) => formatVerifierKey(s.name, s.publicKey);

describe('a device follows the checkpoint key handover (SPEC §7)', () => {
  let broker: Aedes;
  let server: Server;
  let gateway: MqttClient;
  let dir: string;
  let onboarded: Onboarded;
  /** How the playing gateway signs its next receipts' checkpoints. */
  let sign: { by: NoteSigner[]; extensions: string[] } = { by: [k1], extensions: [] };
  let index = 0;
  /** Receipts the playing gateway held back (lost on the way), by seq: a resend of that reading gets it replayed. */
  const held = new Map<number, Buffer>();
  let holdNext = false;
  let agency: Awaited<ReturnType<RootAuthority['agency']>>;
  let url: string;

  beforeAll(async () => {
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
    gateway = await mqtt.connectAsync(url, { clientId: 'playing-gateway', reconnectPeriod: 0 });
    await gateway.subscribeAsync('op/v1/d/+/readings', { qos: 1 });
    gateway.on('message', (topic, payload) => {
      void (async () => {
        const deviceId = topic.split('/')[3]!;
        const bytes = new Uint8Array(payload);
        const certRef = new Uint8Array(32).fill(7);
        const receivedAtMs = Date.now();
        const at = index++;
        const entry = encodeLogEntry({ type: ENTRY_READING, index: at, receivedAtMs, payload: bytes, certRef });
        const cp = { origin: ORIGIN, size: at + 1, root: leafHash(entry), extensions: [revocationsExtension(EMPTY_REVOCATIONS), ...sign.extensions] };
        const checkpoint = await signNote(formatCheckpoint(cp), sign.by);
        const seq = readingSeqOf(bytes)!;
        const receipt = Buffer.from(encodeReceipt({ seq, index: at, receivedAtMs, certRef, leafHash: leafHash(entry), checkpoint }));
        if (holdNext) {
          held.set(seq, receipt);
          holdNext = false;
          return;
        }
        await gateway.publishAsync(receiptsTopic(deviceId), held.get(seq) ?? receipt, { qos: 1 });
      })();
    });
    dir = await mkdtemp(join(tmpdir(), 'op-handover-'));
    const root = await RootAuthority.create('root.example');
    agency = await root.agency('env.example');
    onboarded = await onboardDevice(agency, {
      gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: url, aud: 'originproof', checkpointVerifierKey: vkey(k1) }, kind: 'water-meter', dir, register: false,
    });
  });
  afterAll(async () => {
    await gateway?.endAsync();
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  const lines: string[] = [];
  const device = () => new Device({ state: readState(onboarded.statePath!), statePath: onboarded.statePath!, se: onboarded.se, reconnectMinMs: 20, log: (l) => lines.push(l) });
  const onDisk = () => readState(onboarded.statePath!).gateway;

  test('announced, then switched across a restart; the old key alone is refused afterwards', async () => {
    let d = device();
    await d.connect();
    // 1. The current key alone: nothing changes.
    let seq = (await d.sendReading())!;
    await d.nextReceipt(seq);
    expect(d.checkpointKeys).toEqual({ current: vkey(k1), next: null });

    // 2. The next key announced and signing too: kept as next, in the state file at once.
    sign = { by: [k1, k2], extensions: [nextKeyExtension(vkey(k2))] };
    seq = (await d.sendReading())!;
    await d.nextReceipt(seq);
    expect(d.checkpointKeys).toEqual({ current: vkey(k1), next: vkey(k2) });
    expect([onDisk().checkpointVerifierKey, onDisk().nextCheckpointVerifierKey]).toEqual([vkey(k1), vkey(k2)]);
    expect(d.stats.checkpointKeyChanges).toBe(1);
    await d.close();

    // 3. Restarted from its state file, the device takes a checkpoint of the next key alone: the switch.
    sign = { by: [k2], extensions: [] };
    d = device();
    await d.connect();
    seq = (await d.sendReading())!;
    await d.nextReceipt(seq);
    expect(d.checkpointKeys).toEqual({ current: vkey(k2), next: null });
    expect([onDisk().checkpointVerifierKey, onDisk().nextCheckpointVerifierKey]).toEqual([vkey(k2), undefined]);
    expect(lines.some((l) => l.includes(`switched to ${vkey(k2)}`))).toBe(true);

    // 4. The old key alone is no longer trusted: the receipt fails its check and the reading is kept.
    sign = { by: [k1], extensions: [] };
    const invalid = new Promise<string>((r) => d.once('receipt-invalid', (_r, code: string) => r(code)));
    await d.sendReading();
    expect(await invalid).toBe('CHECKPOINT_INVALID');
    expect(d.outbox.size).toBe(1);
    await d.close();
  });

  test('a receipt replayed to a resent reading, its checkpoint older than the kept one, decides nothing: the next key announced since is kept', async () => {
    const own = await onboardDevice(agency, {
      gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: url, aud: 'originproof', checkpointVerifierKey: vkey(k1) }, kind: 'water-meter', dir: join(dir, 'replayed'), register: false,
    });
    const make = () => new Device({ state: readState(own.statePath!), statePath: own.statePath!, se: own.se, reconnectMinMs: 20, log: (l) => lines.push(l) });
    let d = make();
    await d.connect();
    // k2 announced (the device keeps it); the receipt of the next reading is held back by the broker (lost on the way)
    sign = { by: [k1, k2], extensions: [nextKeyExtension(vkey(k2))] };
    await d.nextReceipt((await d.sendReading())!);
    expect(d.checkpointKeys).toEqual({ current: vkey(k1), next: vkey(k2) });
    holdNext = true;
    const first = (await d.sendReading())!;
    await until(() => held.has(first));
    // then the switch to k2, which announces k3 already
    sign = { by: [k2, k3], extensions: [nextKeyExtension(vkey(k3))] };
    await d.nextReceipt((await d.sendReading())!);
    expect(d.checkpointKeys).toEqual({ current: vkey(k2), next: vkey(k3) });
    await d.close();
    // restarted, the device resends the first reading, and the broker replays its old receipt (k1 and k2, naming k2)
    d = make();
    await d.connect();
    await d.nextReceipt(first);
    expect(d.stats.logRollbacks).toBe(1); // noticed as a log that went back (SPEC §7)
    expect(d.checkpointKeys).toEqual({ current: vkey(k2), next: vkey(k3) });
    expect(readState(own.statePath!).gateway.nextCheckpointVerifierKey).toBe(vkey(k3));
    await d.close();
  });
});

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !cond(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error('timed out');
}
