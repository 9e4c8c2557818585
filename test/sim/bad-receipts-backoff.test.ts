/**
 * SPEC §4: the reconnect backoff starts afresh once the gateway takes readings again: a receipt that holds (§7), or
 * nothing kept to resend. A receipt that fails its check, or names no reading the device keeps, shows nothing (a
 * forger, or a gateway not the provisioned one, can send it). Found by review: any receipt reset the backoff, so a
 * gateway answering each resent reading with a bad receipt and closing the connection kept the device coming back at
 * the first step, for as long as it went on. A real aedes broker on a loopback port plays the gateway (a real mqtt.js
 * client answers each reading the device publishes as the test says, and the broker closes the device's connection).
 */
import type { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeReceipt, receiptsTopic, type NoteSigner, type Receipt } from '../../protocol/index.js';
import { Device, type Onboarded } from '../../device-sim/index.js';
import { otherKey, startPlayingGateway, type PlayingGateway } from './playing-gateway.js';
import { until } from './helpers.js';

describe('reconnects while the gateway answers with receipts that do not hold (SPEC §4, §7)', () => {
  let playing: PlayingGateway;
  let broker: Aedes;
  let gateway: MqttClient;
  let onboarded: Onboarded;
  let received: Map<number, Uint8Array>;
  /** A receipt for `bytes` at a fresh index, its checkpoint signed by `by` (the device's gateway key unless said). */
  const receiptFor = (seq: number, bytes: Uint8Array, by?: NoteSigner) => playing.receiptFor(seq, bytes, by ? { by } : {});

  beforeAll(async () => {
    playing = await startPlayingGateway('op-bad-receipts-');
    ({ broker, gateway, onboarded, received } = playing);
  });
  afterAll(() => playing?.close());

  test('a receipt that fails its check or names no kept reading does not start the backoff afresh; one that holds does', async () => {
    // random 0: each delay is half its step (100, 200, 400, ... ms)
    const d = new Device({ state: onboarded.state, se: onboarded.se, reconnectMinMs: 200, reconnectMaxMs: 10_000, resendTimeoutMs: 60_000, random: () => 0, log: () => undefined });
    const delays: number[] = [];
    d.on('reconnect-scheduled', (ms: number) => delays.push(ms));
    /** The broker closes the device's connection, as a gateway does after an answer. */
    const closeDevice = () => (broker as unknown as { clients: Record<string, { close(): void }> }).clients[d.id]!.close();
    // At QoS 0, as the gateway answers (SPEC §4): at QoS 1 the broker sends an answer again after the reconnect when
    // the close came before the device's PUBACK.
    const answer = (r: Receipt) => gateway.publishAsync(receiptsTopic(d.id), Buffer.from(encodeReceipt(r)), { qos: 0 });
    /** Once the device is connected and has (re)sent `seq`: answer it with `r`, wait for `event`, and close the connection. */
    const round = async (seq: number, r: (bytes: Uint8Array) => Promise<Receipt>, event: string) => {
      await until(() => d.isConnected && received.has(seq));
      const bytes = received.get(seq)!;
      received.delete(seq); // the next round waits for the resend after the reconnect
      const heard = new Promise<void>((ok) => d.once(event, () => ok()));
      await answer(await r(bytes));
      await heard;
      const scheduled = delays.length;
      closeDevice();
      await until(() => delays.length > scheduled);
    };
    try {
      await d.connect();
      const seq = (await d.sendReading())!;
      // A checkpoint signed by a key the device does not hold, a leaf hash of other bytes, a receipt for a seq never sent.
      await round(seq, (bytes) => receiptFor(seq, bytes, otherKey), 'receipt-invalid');
      await round(seq, async (bytes) => ({ ...(await receiptFor(seq, bytes)), leafHash: new Uint8Array(32).fill(1) }), 'receipt-invalid');
      await round(seq, (bytes) => receiptFor(seq + 1_000, bytes), 'receipt');
      expect(d.stats.receiptInvalid).toBe(2);
      expect(d.stats.duplicateReceipts).toBe(1);
      expect(d.outbox.has(seq)).toBe(true); // kept, resent after each reconnect
      // Each close waited the next step, not the first one again.
      expect(delays).toEqual([100, 200, 400]);
      // A receipt that holds: the gateway takes readings; the next close waits the first step again.
      await until(() => d.isConnected && received.has(seq));
      const receipted = d.nextReceipt(seq);
      await answer(await receiptFor(seq, received.get(seq)!));
      await receipted;
      expect(d.outbox.size).toBe(0);
      closeDevice();
      await until(() => delays.length > 3);
      expect(delays).toEqual([100, 200, 400, 100]);
    } finally {
      await d.close();
    }
  });
});
