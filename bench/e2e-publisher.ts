/**
 * The end-to-end bench's publisher, a separate process: N simulated devices, each its own TCP connection speaking
 * MQTT 3.1.1 (CONNECT with its connect token, SUBSCRIBE to its receipts and rejections, PUBLISH at QoS 1), with
 * readings signed before the timed phase. Driven by its parent over IPC (bench/e2e.ts).
 *
 * Packets are made and parsed by mqtt-packet, the codec under both mqtt.js and aedes, and each device's PUBLISH
 * frames are made before the timed phase too, as its readings are. The load generator shares the machine's cores
 * with the gateway, so it stays lean: a full mqtt.js client per device cost ~45 µs of CPU per paced reading here
 * (message-id store, per-packet streams), CPU the gateway under test then did not get.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { fromHex, deviceIdFromKey, publicKey, createConnectToken, readingsTopic, receiptsTopic, rejectionsTopic, decodeRejection, parseVerifierKey, type Alg } from '../protocol/index.js';
import { nodeSigner } from './node-signer.js';
import { benchReading } from './fleet.js';
import { nodeEd25519Verify } from '../ledger/signer.js';
import { ReceiptAudit, emptyTally, type AnswerTally } from './receipt-audit.js';

interface SetupMsg {
  type: 'setup';
  mqttUrl: string;
  /** mqtts: the CA (PEM) that issued the gateway's certificate */
  ca?: string;
  devices: { id: string; alg: Alg; secret: string }[];
  readingsPerDevice: number;
  firmware: string;
  /** the gateway's checkpoint verifier key (GET /v1/log): every receipt is audited against it */
  checkpointKey: string;
}
interface RunMsg {
  type: 'run';
  /** readings per second across all devices; 0 = as fast as the gateway takes them */
  rate: number;
  /** how many of each device's prepared readings to send in this phase */
  count: number;
  /** one reading per device at a time, each round once the previous one is answered (the warm-up: see bench/e2e.ts) */
  rounds?: boolean;
  /** how many of the phase's valid receipts to hand back (at random), for the bench to prove in the gateway's log */
  sample: number;
}

interface Dev {
  id: string;
  socket: Socket;
  /** PUBLISH frames (QoS 1, message id = seq mod 65535 + 1), made before the timed phase; frames[seq - 1] */
  frames: Buffer[];
  /** the signed readings the frames carry, envelopes[seq - 1] (for the receipt audit) */
  envelopes: Uint8Array[];
  next: number;
  /** by seq: when the reading was due (paced: its slot in the schedule; otherwise when it was written) */
  sentAt: Float64Array;
  /** by seq: 0 unanswered, 1 receipt, 2 rejection */
  answer: Uint8Array;
  /** by seq: the receipt's bytes, kept until the phase's audit */
  receipt: (Uint8Array | undefined)[];
}

const devices: Dev[] = [];
let latencies: number[] = [];
let tally: AnswerTally = emptyTally();
/** The seqs the running phase sends (the same for every device). */
let phaseLo = 1, phaseHi = 0;
let onAnswer: () => void = () => {};
/** Fails the running phase (a device's connection closed under it). */
let onLost: (err: Error) => void = () => {};
let exiting = false;
/** The first connection lost since setup: every later phase fails with it. */
let lost: Error | undefined;
let audit: ReceiptAudit | undefined;

function send(msg: unknown): void {
  process.send!(msg);
}

/** Connect one device: CONNECT, wait for CONNACK 0, SUBSCRIBE to its answer topics, wait for SUBACK. */
function connectDevice(url: URL, ca: string | undefined, id: string, token: Uint8Array, frames: Buffer[], envelopes: Uint8Array[]): Promise<Dev> {
  return new Promise((resolve, reject) => {
    const host = url.hostname;
    const port = Number(url.port);
    // mqtts: node:tls with the gateway's certificate checked against `ca` (writes before the handshake wait for it)
    const socket: Socket = url.protocol === 'mqtts:' ? tlsConnect({ host, port, ca, servername: 'localhost' }).setNoDelay(true) : tcpConnect({ host, port, noDelay: true });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const n = frames.length + 1;
    const dev: Dev = { id, socket, frames, envelopes, next: 0, sentAt: new Float64Array(n), answer: new Uint8Array(n), receipt: new Array<Uint8Array | undefined>(n) };
    const receiptsAt = receiptsTopic(id);
    socket.on('error', reject);
    // A connection lost once connected fails the phase: its readings would never be answered.
    socket.on('close', () => {
      if (exiting) return;
      lost ??= new Error(`device ${id}: connection closed by the gateway`);
      reject(lost); // still connecting
      onLost(lost);
    });
    socket.on('data', (chunk) => parser.parse(chunk));
    parser.on('error', reject);
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connack') {
        // The bench holds every device connected at once, so a connection cap (CONNACK 3) would not free up by retrying.
        if (p.returnCode === 3) return reject(new Error(`device ${id}: CONNACK 3, the gateway holds its most device connections: for a fleet this large set ORIGINPROOF_MQTT_MAX_CONNECTIONS, and a larger old space in OP_BENCH_GATEWAY_NODE_ARGS (README "Capacity")`));
        if (p.returnCode !== 0) return reject(new Error(`device ${id}: CONNACK ${p.returnCode}`));
        socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: receiptsAt, qos: 1 }, { topic: rejectionsTopic(id), qos: 1 }] }));
      } else if (p.cmd === 'suback') {
        if (p.granted.some((g) => typeof g !== 'number' || g > 2)) return reject(new Error(`device ${id}: subscription refused`));
        resolve(dev);
      } else if (p.cmd === 'publish') {
        const payload = p.payload as Buffer;
        const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
        let seq: number;
        let kind: 1 | 2;
        if (p.topic === receiptsAt) {
          seq = readSeq(payload);
          kind = 1;
        } else {
          const r = decodeRejection(bytes);
          seq = r.seq ?? -1;
          kind = 2;
          tally.rejected[r.code] = (tally.rejected[r.code] ?? 0) + 1;
        }
        if (seq < phaseLo || seq > phaseHi) return void tally.unexpected++;
        if (dev.answer[seq] !== 0) return void tally.duplicates++;
        dev.answer[seq] = kind;
        if (kind === 1) {
          latencies.push(performance.now() - dev.sentAt[seq]!);
          tally.receipts++;
          dev.receipt[seq] = Uint8Array.from(bytes); // a copy: the payload is a view of the socket's read chunk
        }
        onAnswer();
      }
      // puback: the gateway took the reading (the receipt is what counts)
    });
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, username: id, password: Buffer.from(token), keepalive: 600 }));
  });
}

async function connectAll(m: SetupMsg): Promise<void> {
  const t = Math.floor(Date.now() / 1000);
  const firmware = fromHex(m.firmware);
  const url = new URL(m.mqttUrl);
  audit = new ReceiptAudit(parseVerifierKey(m.checkpointKey), nodeEd25519Verify);
  const signStart = performance.now();
  const prepared = await Promise.all(
    m.devices.map(async (d) => {
      const signer = nodeSigner(d.alg, fromHex(d.secret));
      const deviceId = deviceIdFromKey(publicKey(d.alg, signer.publicKey));
      const topic = readingsTopic(d.id);
      const frames: Buffer[] = [];
      const envelopes: Uint8Array[] = [];
      for (let s = 1; s <= m.readingsPerDevice; s++) {
        const bytes = await benchReading(signer, deviceId, s, t, firmware);
        envelopes.push(bytes);
        frames.push(mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(bytes), qos: 1, messageId: (s % 65535) + 1, retain: false, dup: false }));
      }
      const token = await createConnectToken(signer, { aud: 'originproof', iat: t, exp: t + 600 });
      return { d, token, frames, envelopes };
    }),
  );
  const signMs = performance.now() - signStart;
  const connectStart = performance.now();
  for (let i = 0; i < prepared.length; i += 100) {
    devices.push(...(await Promise.all(prepared.slice(i, i + 100).map((p) => connectDevice(url, m.ca, p.d.id, p.token, p.frames, p.envelopes)))));
  }
  send({ type: 'ready', signMs: Math.round(signMs), connectMs: Math.round(performance.now() - connectStart), connected: devices.length });
}

/** A receipt is the map {1: seq, ...} (a6 01 <uint>): read only the seq, without a full CBOR parse. */
function readSeq(p: Buffer): number {
  const b = p[2]!;
  if (b < 24) return b;
  if (b === 24) return p[3]!;
  if (b === 25) return p.readUInt16BE(3);
  if (b === 26) return p.readUInt32BE(3);
  return -1;
}

async function run(m: RunMsg): Promise<void> {
  if (lost) throw lost;
  const total = devices.length * m.count;
  latencies = [];
  tally = emptyTally(total);
  phaseLo = (devices[0]?.next ?? 0) + 1;
  phaseHi = (devices[0]?.next ?? 0) + m.count;
  let answered = 0;
  let roundTarget = 0;
  let roundDone: (() => void) | null = null;
  const done = new Promise<void>((resolve, reject) => {
    onAnswer = () => {
      ++answered; // distinct readings answered (duplicates and strays are not counted here)
      if (roundDone && answered >= roundTarget) {
        roundDone();
        roundDone = null;
      }
      if (answered >= total) resolve();
    };
    onLost = reject;
  });
  done.catch(() => undefined); // awaited below; a loss during sending must not be unhandled meanwhile
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  let maxLagMs = 0;
  // `due`: when the reading was due. Paced, that is its slot in the schedule, not when the timer got to it: a
  // latency taken from the write would leave out the time a late timer held it (coordinated omission).
  const publishOne = (dev: Dev, due: number) => {
    const frame = dev.frames[dev.next++]!;
    dev.sentAt[dev.next] = due; // seq = next after the increment
    dev.socket.write(frame);
  };
  if (m.rate === 0 && m.rounds) {
    for (let k = 0; k < m.count; k++) {
      roundTarget = (k + 1) * devices.length;
      const round = new Promise<void>((resolve) => (roundDone = resolve));
      for (const dev of devices) publishOne(dev, performance.now());
      await Promise.race([round, done]);
    }
  } else if (m.rate === 0) {
    for (let k = 0; k < m.count; k++) for (const dev of devices) publishOne(dev, performance.now());
  } else {
    // paced: reading i (0-based, round-robin over the devices) is due at start + i / rate; every 1 ms, send what is due
    let sent = 0;
    let di = 0;
    const msPerReading = 1000 / m.rate;
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const now = performance.now();
        while (sent < total) {
          const due = start + sent * msPerReading;
          if (due > now) break;
          maxLagMs = Math.max(maxLagMs, now - due);
          publishOne(devices[di]!, due);
          di = (di + 1) % devices.length;
          sent++;
        }
        if (sent >= total) {
          clearInterval(timer);
          resolve();
        }
      }, 1);
      done.catch((err: unknown) => {
        clearInterval(timer);
        reject(err as Error);
      });
    });
  }
  await done;
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const publisherCores = Math.round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100) / 100;
  // The audit, outside the timing: every receipt of the phase against its reading and the gateway's key; a uniform
  // sample of the valid ones (reservoir) goes back to the bench, which proves them in the gateway's log.
  const sample: string[] = [];
  let valid = 0;
  for (const dev of devices) {
    for (let seq = phaseLo; seq <= phaseHi; seq++) {
      const r = dev.receipt[seq];
      if (r && audit!.tallyCheck(tally, seq, dev.envelopes[seq - 1]!, r)) {
        const i = valid++;
        const k = i < m.sample ? i : Math.floor(Math.random() * (i + 1));
        if (k < m.sample) sample[k] = Buffer.from(r).toString('base64');
      }
      dev.receipt[seq] = undefined;
    }
  }
  latencies.sort((a, b) => a - b);
  // nearest rank: the smallest latency with at least p of the sample at or below it
  const pct = (p: number) => Math.round((latencies[Math.max(0, Math.ceil(latencies.length * p) - 1)] ?? 0) * 10) / 10;
  send({ type: 'result', sent: total, receipts: tally.receipts, tally, elapsedMs: Math.round(elapsedMs), perSec: Math.round((tally.receipts / elapsedMs) * 1000), p50: pct(0.5), p95: pct(0.95), p99: pct(0.99), maxSendLagMs: Math.round(maxLagMs * 10) / 10, publisherCores, sample });
}

function disconnectAll(): Promise<void> {
  exiting = true;
  const bye = mqttPacket.generate({ cmd: 'disconnect' });
  return Promise.all(devices.map((d) => new Promise<void>((resolve) => d.socket.end(bye, () => resolve())))).then(() => undefined);
}

process.on('message', (m: SetupMsg | RunMsg | { type: 'exit' }) => {
  const fail = (err: unknown) => send({ type: 'error', message: (err as Error).stack ?? String(err) });
  if (m.type === 'setup') connectAll(m).catch(fail);
  else if (m.type === 'run') run(m).catch(fail);
  else if (m.type === 'exit') disconnectAll().finally(() => process.exit(0));
});
