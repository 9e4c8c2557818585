/**
 * The end-to-end bench's publisher, a separate process: N simulated devices, each its own MQTT connection, with
 * readings signed before the timed phase. Driven by its parent over IPC (bench/e2e.ts).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { fromHex, deviceIdFromKey, publicKey, createConnectToken, signReading, readingsTopic, receiptsTopic, rejectionsTopic, decodeRejection, type Alg } from '../protocol/index.js';
import { nodeSigner } from './node-signer.js';

interface SetupMsg {
  type: 'setup';
  mqttUrl: string;
  devices: { id: string; alg: Alg; secret: string }[];
  readingsPerDevice: number;
  firmware: string;
}
interface RunMsg {
  type: 'run';
  /** readings per second across all devices; 0 = as fast as the gateway takes them */
  rate: number;
  /** how many of each device's prepared readings to send in this phase */
  count: number;
}

interface Dev {
  id: string;
  client: MqttClient;
  readings: Buffer[];
  next: number;
  sentAt: Map<number, number>;
}

const devices: Dev[] = [];
let latencies: number[] = [];
let receipts = 0;
const rejected = new Map<string, number>();
let onAnswer: () => void = () => {};

function send(msg: unknown): void {
  process.send!(msg);
}

async function connectAll(m: SetupMsg): Promise<void> {
  const t = Math.floor(Date.now() / 1000);
  const firmware = fromHex(m.firmware);
  const signStart = performance.now();
  const prepared = m.devices.map((d) => ({ d, signer: nodeSigner(d.alg, fromHex(d.secret)) }));
  const withReadings = await Promise.all(
    prepared.map(async ({ d, signer }) => {
      const deviceId = deviceIdFromKey(publicKey(d.alg, signer.publicKey));
      const readings: Buffer[] = [];
      for (let s = 1; s <= m.readingsPerDevice; s++) {
        const bytes = await signReading(signer, { deviceId, seq: s, iat: t, firmware, body: { kind: 'sensor', type: 'temperature', value: 200 + (s % 50), scale: -1, unit: 'Cel' } });
        readings.push(Buffer.from(bytes));
      }
      return { d, signer, readings };
    }),
  );
  const signMs = performance.now() - signStart;
  const connectStart = performance.now();
  for (let i = 0; i < withReadings.length; i += 100) {
    await Promise.all(
      withReadings.slice(i, i + 100).map(async ({ d, signer, readings }) => {
        const token = await createConnectToken(signer, { aud: 'originproof', iat: t, exp: t + 600 });
        const client = await mqtt.connectAsync(m.mqttUrl, { clientId: d.id, username: d.id, password: Buffer.from(token), reconnectPeriod: 0, protocolVersion: 4, keepalive: 600 });
        const dev: Dev = { id: d.id, client, readings, next: 0, sentAt: new Map() };
        client.on('message', (topic, payload) => {
          if (topic.endsWith('/receipts')) {
            // receipt map starts 0xa6 0x01 <seq>: decode only the seq, cheaply, without a full parse
            const seq = readSeq(payload);
            const at = dev.sentAt.get(seq);
            if (at !== undefined) latencies.push(performance.now() - at);
            receipts++;
          } else {
            const code = decodeRejection(new Uint8Array(payload)).code;
            rejected.set(code, (rejected.get(code) ?? 0) + 1);
          }
          onAnswer();
        });
        await client.subscribeAsync([receiptsTopic(d.id), rejectionsTopic(d.id)], { qos: 1 });
        devices.push(dev);
      }),
    );
  }
  send({ type: 'ready', signMs: Math.round(signMs), connectMs: Math.round(performance.now() - connectStart), connected: devices.length });
}

function readSeq(p: Buffer): number {
  // {1: seq, ...}: a6 01 then a CBOR uint
  const b = p[2]!;
  if (b < 24) return b;
  if (b === 24) return p[3]!;
  if (b === 25) return p.readUInt16BE(3);
  if (b === 26) return p.readUInt32BE(3);
  return -1;
}

async function run(m: RunMsg): Promise<void> {
  latencies = [];
  receipts = 0;
  rejected.clear();
  const total = devices.length * m.count;
  let answered = 0;
  const done = new Promise<void>((resolve) => {
    onAnswer = () => {
      if (++answered >= total) resolve();
    };
  });
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const publishOne = (dev: Dev) => {
    const bytes = dev.readings[dev.next++]!;
    dev.sentAt.set(dev.next, performance.now());
    dev.client.publish(readingsTopic(dev.id), bytes, { qos: 1 });
  };
  if (m.rate === 0) {
    for (let k = 0; k < m.count; k++) for (const dev of devices) publishOne(dev);
  } else {
    // paced: every 10 ms, send rate/100 readings round-robin
    let sent = 0;
    let di = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(total, Math.round(((performance.now() - start) / 1000) * m.rate));
        while (sent < due) {
          publishOne(devices[di]!);
          di = (di + 1) % devices.length;
          sent++;
        }
        if (sent >= total) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
  }
  await done;
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const publisherCores = Math.round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100) / 100;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 10) / 10;
  send({ type: 'result', sent: total, receipts, rejected: Object.fromEntries(rejected), elapsedMs: Math.round(elapsedMs), perSec: Math.round((receipts / elapsedMs) * 1000), p50: pct(0.5), p95: pct(0.95), p99: pct(0.99), publisherCores });
}

process.on('message', (m: SetupMsg | RunMsg | { type: 'exit' }) => {
  const fail = (err: unknown) => send({ type: 'error', message: (err as Error).stack ?? String(err) });
  if (m.type === 'setup') connectAll(m).catch(fail);
  else if (m.type === 'run') run(m).catch(fail);
  else if (m.type === 'exit') Promise.all(devices.map((d) => d.client.endAsync(true))).finally(() => process.exit(0));
});
