/**
 * A simulated device, implementing firmware-specs/SPEC.md and nothing beyond it: its key behind a secure element,
 * persisted sequence numbers, a clock that may drift, one MQTT connection (link.ts: client id = username = device id,
 * password = a fresh connect token per connection; a failed or dropped connection is tried again after a backoff
 * with jitter, SPEC §4), an outbox of signed readings kept until their receipt
 * arrives (persisted with the state, see outbox.ts; resent unchanged after a timeout with exponential backoff,
 * after every reconnect, and after a restart), and receipt
 * checks (leaf hash of the rebuilt log entry, checkpoint signature with the provisioned gateway key, followed when the
 * gateway hands it over to a next key it announced), and a watch on the receipts' checkpoints that notices a log that
 * went back (log-watch.ts, SPEC §7).
 * Uses protocol/ only, plus mqtt.js and node IO.
 */
import { EventEmitter } from 'node:events';
import {
  decodeReceipt, decodeRejection, deviceIdFromHex, formatVerifierKey, fromHex, parseVerifierKey, readingSeqOf, readingsTopic, signReading,
  type CheckpointKeys, type ErrorCode, type NoteVerifier, type ReadingBody, type Receipt, type Rejection,
} from '../protocol/index.js';
import { DeviceClock, monotonicMs } from './clock.js';
import type { SecureElement } from './secure-element.js';
import { SequenceCounter, writeState, type DeviceStateFile } from './state.js';
import { LogWatch } from './log-watch.js';
import { OutboxJournal, outboxFilePath } from './outbox.js';
import { makeGenerator, type Generator } from './kinds.js';
import { checkReceipt, KEEP_CODES, nextEvent, nodeEd25519Verify, STOP_CODES } from './answers.js';
import { LatencyHistogram } from './latency.js';
import { DeviceLink } from './link.js';
import { holdStateFile } from './state-lock.js';
import { NOT_AUTHORIZED_BACKOFF } from './backoff.js';
import type { DeviceOptions } from './device-options.js';

export interface OutboxEntry {
  seq: number;
  bytes: Uint8Array;
  /** On the monotonic clock (monotonicMs), as dueAtMs: a wall clock set back would hold every resend for that long. */
  firstSentMs: number;
  dueAtMs: number;
  delayMs: number;
  attempts: number;
  /** In non-volatile memory (the outbox log); only then is it published. */
  durable: boolean;
}

export interface DeviceStats {
  sent: number;
  resent: number;
  receipted: number;
  duplicateReceipts: number;
  receiptInvalid: number;
  /** Receipts whose checkpoint showed the log went back or forked (log-watch.ts); each is in the state's evidence. */
  logRollbacks: number;
  /** Times the gateway's checkpoint keys changed (a next key announced or withdrawn, a switch): SPEC §7. */
  checkpointKeyChanges: number;
  rejected: Record<string, number>;
  connects: number;
  /** Receipt latencies (from the first publish), in constant memory: percentiles within 1.6 %, exact maximum. */
  latencies: LatencyHistogram;
}

export class Device extends EventEmitter {
  readonly id: string;
  readonly se: SecureElement;
  readonly clock: DeviceClock;
  readonly state: DeviceStateFile;
  readonly outbox = new Map<number, OutboxEntry>();
  readonly stats: DeviceStats = { sent: 0, resent: 0, receipted: 0, duplicateReceipts: 0, receiptInvalid: 0, logRollbacks: 0, checkpointKeyChanges: 0, rejected: {}, connects: 0, latencies: new LatencyHistogram() };
  /**
   * Set when a rejection says stop sending (SPEC §8): no new readings are made; once nothing kept is left the device
   * closes its connection and connects again on the CONNACK 5 schedule, and a CONNECT accepted clears it.
   */
  halted: ErrorCode | null = null;
  /** Test hook: ignore incoming receipts (a lost receipt). */
  dropReceipts = false;
  lastReceipt: Receipt | null = null;
  private readonly seq: SequenceCounter;
  /** The outbox in non-volatile memory (null without a statePath). */
  readonly journal: OutboxJournal | null;
  /** The gateway's checkpoint keys receipts are checked with (null: none provisioned, only leaf hashes are checked). */
  private gatewayKeys: CheckpointKeys | null;
  /** Alert and notice lines (DeviceOptions.log; default stderr). */
  private readonly log: (line: string) => void;
  /** Codes of failed receipt checks already alerted (one line each). */
  private readonly alertedReceiptCodes = new Set<ErrorCode>();
  /** The largest checkpoint seen, kept to notice a log that went back. */
  readonly logWatch: LogWatch;
  private readonly statePath: string | undefined;
  /** Lets go of the state file (state-lock.ts); null while not held. */
  private releaseState: (() => void) | null = null;
  private readonly generator: Generator;
  /** The MQTT connection, kept up until close(). */
  private readonly link: DeviceLink;
  private sweepTimer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly firmware: Uint8Array;
  private readonly deviceIdBytes: Uint8Array;
  private readonly opts: Required<Pick<DeviceOptions, 'resendTimeoutMs' | 'maxResendMs'>>;
  /** The gateway's addresses as the state file has them, written back in place of the options' overrides. */
  private readonly provisionedAddresses: { mqttUrl: string; httpUrl: string; tlsCa: string | undefined };

  constructor(o: DeviceOptions) {
    super();
    this.state = o.state;
    this.id = o.state.deviceId;
    this.se = o.se;
    this.clock = o.clock ?? new DeviceClock();
    this.opts = { resendTimeoutMs: o.resendTimeoutMs ?? 30_000, maxResendMs: o.maxResendMs ?? 600_000 };
    const g = this.state.gateway;
    this.provisionedAddresses = { mqttUrl: g.mqttUrl, httpUrl: g.httpUrl, tlsCa: g.tlsCa };
    if (o.mqttUrl) g.mqttUrl = o.mqttUrl;
    if (o.httpUrl) g.httpUrl = o.httpUrl;
    if (o.tlsCa) g.tlsCa = o.tlsCa;
    const path = o.statePath;
    this.statePath = path;
    this.link = new DeviceLink({
      id: this.id, state: this.state, se: this.se, clock: this.clock,
      persistState: () => this.persist(this.state),
      tokenLifetimeSeconds: o.tokenLifetimeSeconds ?? 300,
      reconnectMinMs: o.reconnectMinMs ?? 200,
      reconnectMaxMs: o.reconnectMaxMs ?? 5_000,
      notAuthorizedMinMs: o.notAuthorizedMinMs ?? NOT_AUTHORIZED_BACKOFF.minMs,
      notAuthorizedMaxMs: o.notAuthorizedMaxMs ?? NOT_AUTHORIZED_BACKOFF.maxMs,
      random: o.random,
      events: this,
      onMessage: (topic, payload) => this.onMessage(topic, payload),
      onConnected: () => this.onConnected(),
    });
    this.seq = new SequenceCounter(this.state, (s) => this.persist(s));
    this.journal = path ? new OutboxJournal(outboxFilePath(path), o.outboxFlushMs ?? 0, readingSeqOf) : null;
    // On boot: what was signed before the restart and has no receipt yet is resent after connecting.
    const now = monotonicMs();
    for (const { seq, bytes } of this.journal?.entries() ?? []) {
      this.outbox.set(seq, { seq, bytes, firstSentMs: now, dueAtMs: now + this.opts.resendTimeoutMs, delayMs: this.opts.resendTimeoutMs, attempts: 1, durable: true });
    }
    this.log = o.log ?? ((line) => process.stderr.write(`${line}\n`));
    // The outbox is non-volatile memory too: a state file that went back below a kept reading's seq would have the
    // next reading signed under that seq, replacing the kept one and taking its receipt as a forged one (found by review).
    let keptMax = -1;
    for (const seq of this.outbox.keys()) keptMax = Math.max(keptMax, seq);
    if (keptMax > this.state.seqReserved) {
      this.log(`device ${this.id}: its state file's seqReserved ${this.state.seqReserved} is below seq ${keptMax} kept in its outbox (the state file went back): new readings are numbered above ${keptMax}`);
      this.seq.continueAbove(keptMax);
    }
    this.gatewayKeys = gatewayKeysOf(this.state.gateway);
    this.logWatch = new LogWatch(this.state, this.trustedKeys(), {
      verify: nodeEd25519Verify, persist: () => this.persist(this.state), deviceId: this.id, where: path ?? 'memory (no state file)',
      log: this.log,
    });
    this.firmware = fromHex(this.state.firmware);
    this.deviceIdBytes = deviceIdFromHex(this.id);
    this.generator = o.generator ?? makeGenerator(this.state.kind, this.state.salt ? { salt: fromHex(this.state.salt) } : {});
    // Last, so that a constructor that throws holds nothing; nothing above writes.
    this.holdState();
  }

  /** Hold the state file for this device object (state-lock.ts); again after close() if it is used again. */
  private holdState(): void {
    if (this.statePath && !this.releaseState) this.releaseState = holdStateFile(this.statePath);
  }

  /** Every write of the state file (it carries the log watch's reference too). Throws as writeState does. */
  private persist(s: DeviceStateFile): void {
    if (!this.statePath) return;
    const { tlsCa, ...addresses } = this.provisionedAddresses;
    const { tlsCa: _overridden, ...gateway } = s.gateway;
    writeState(this.statePath, { ...s, gateway: { ...gateway, ...addresses, ...(tlsCa !== undefined ? { tlsCa } : {}) } });
    this.logWatch.wrote(s);
  }

  get isConnected(): boolean {
    return this.link.isConnected;
  }

  get nextSeq(): number {
    return this.seq.peek;
  }

  /**
   * Connect, and keep connected until close(). Resolves once the first attempt has connected; rejects with that
   * attempt's error (ConnackRefused, a network or TLS error), and then, unless close() was called, the device tries
   * again after a backoff as after a dropped connection (SPEC §4: keep every reading, connect again), so a device
   * refused at boot (CONNACK 3, the gateway down) connects later: 'connected' tells when. Give up with close().
   * The connection itself is link.ts.
   */
  async connect(): Promise<void> {
    this.holdState();
    this.sweepTimer ??= setInterval(() => this.sweep(), 250);
    this.sweepTimer.unref?.();
    return this.link.connect();
  }

  /** Connected and subscribed: after every (re)connect, resend whatever has no receipt yet. */
  private onConnected(): void {
    this.stats.connects++;
    this.halted = null; // SPEC §8 "stop sending": a CONNECT accepted again (a renewed certificate, say): go on
    if (this.outbox.size === 0) this.link.progress();
    this.emit('connected');
    // Unchanged, in sequence order. Each one's timer starts again from now: an overdue reading would otherwise go
    // out a second time at the next sweep.
    const pending = [...this.outbox.values()].sort((a, b) => a.seq - b.seq);
    const now = monotonicMs();
    for (const e of pending) {
      if (e.attempts > 0) this.stats.resent++;
      e.dueAtMs = now + e.delayMs;
      this.publishEntry(e);
    }
  }

  /** Measure, sign (with the next persisted sequence number) and send one reading. Null when halted. */
  async sendReading(body: ReadingBody = this.generator(), opts: { iat?: number } = {}): Promise<number | null> {
    this.holdState();
    const run = this.chain.then(async () => {
      if (this.halted) return null;
      const seq = this.seq.take(); // persisted before the reading exists, let alone is sent
      const bytes = await signReading(this.se, { deviceId: this.deviceIdBytes, seq, iat: opts.iat ?? this.clock.now(), firmware: this.firmware, body });
      const now = monotonicMs();
      const e: OutboxEntry = { seq, bytes, firstSentMs: now, dueAtMs: now + this.opts.resendTimeoutMs, delayMs: this.opts.resendTimeoutMs, attempts: 0, durable: !this.journal };
      this.outbox.set(seq, e);
      // Kept in the outbox log before it is published. The chain does not wait for the write, so the readings
      // signed meanwhile join the next single write (group commit, see outbox.ts).
      return { e, written: this.journal?.add(seq, bytes) };
    });
    this.chain = run.catch(() => undefined);
    const r = await run;
    if (!r) return null;
    if (r.written) {
      try {
        await r.written;
      } catch (err) {
        this.outbox.delete(r.e.seq); // never sent; its seq stays used (gaps are fine)
        this.journal?.remove(r.e.seq);
        throw err;
      }
      r.e.durable = true;
    }
    this.stats.sent++; // kept: published now, or after the reconnect (a reading not kept is not sent, ever)
    this.publishEntry(r.e);
    return r.e.seq;
  }

  /** Sign claims exactly as sendReading would, without sending (attacks build on it). */
  async signOnly(body: ReadingBody = this.generator(), opts: { iat?: number; seq?: number } = {}): Promise<{ seq: number; bytes: Uint8Array }> {
    this.holdState();
    const seq = opts.seq ?? this.seq.take();
    const bytes = await signReading(this.se, { deviceId: this.deviceIdBytes, seq, iat: opts.iat ?? this.clock.now(), firmware: this.firmware, body });
    return { seq, bytes };
  }

  /** Publish arbitrary bytes (not kept in the outbox): for attacks and tests. */
  publishRaw(bytes: Uint8Array, topic = readingsTopic(this.id)): void {
    const c = this.link.client;
    if (!c) throw new Error('not connected');
    // No wait for the PUBACK: a broker that denies the publish closes the connection instead.
    c.publish(topic, Buffer.from(bytes), { qos: 1 }, () => undefined);
  }

  private publishEntry(e: OutboxEntry): void {
    const c = this.link.client;
    if (!c || !this.link.isConnected || !e.durable) return; // sent after the reconnect, or once written
    e.attempts++;
    c.publish(readingsTopic(this.id), Buffer.from(e.bytes), { qos: 1 }, () => undefined);
  }

  /** Resend entries whose answer is overdue (exponential backoff). */
  private sweep(): void {
    if (!this.link.isConnected) return;
    const now = monotonicMs();
    for (const e of this.outbox.values()) {
      if (e.dueAtMs > now) continue;
      e.delayMs = Math.min(this.opts.maxResendMs, e.delayMs * 2);
      e.dueAtMs = now + e.delayMs;
      this.stats.resent++;
      this.publishEntry(e);
    }
  }

  private onMessage(topic: string, payload: Uint8Array): void {
    try {
      if (topic.endsWith('/receipts')) this.onReceipt(decodeReceipt(payload));
      else if (topic.endsWith('/rejections')) this.onRejection(decodeRejection(payload));
    } catch (err) {
      this.emit('bad-answer', err);
    }
  }

  /** SPEC §7: the receipt for the reading `bytes` holds (null), or the code of what failed (answers.ts). */
  checkReceipt(r: Receipt, bytes: Uint8Array): ErrorCode | null {
    return checkReceipt(r, bytes, this.gatewayKeys).code;
  }

  /** The gateway keys a receipt's checkpoint may be signed by: the current one, and an announced next one. */
  private trustedKeys(): NoteVerifier[] {
    const k = this.gatewayKeys;
    return k ? (k.next ? [k.current, k.next] : [k.current]) : [];
  }

  /** The gateway's checkpoint keys as the device holds them now (C2SP verifier key text; null: none). */
  get checkpointKeys(): { current: string; next: string | null } | null {
    const g = this.state.gateway;
    return g.checkpointVerifierKey ? { current: g.checkpointVerifierKey, next: g.nextCheckpointVerifierKey ?? null } : null;
  }

  /**
   * SPEC §7, a new checkpoint key: the keys after a receipt that held (a next key announced or withdrawn, a switch),
   * kept in the state file at once: a device restarted after the switch with the old key only would fail every
   * receipt.
   */
  private holdGatewayKeys(keys: CheckpointKeys, switched: boolean): void {
    const g = this.state.gateway;
    const current = formatVerifierKey(keys.current.name, keys.current.publicKey);
    const next = keys.next ? formatVerifierKey(keys.next.name, keys.next.publicKey) : undefined;
    if (current === g.checkpointVerifierKey && next === g.nextCheckpointVerifierKey) return;
    this.gatewayKeys = keys;
    g.checkpointVerifierKey = current;
    if (next === undefined) delete g.nextCheckpointVerifierKey;
    else g.nextCheckpointVerifierKey = next;
    this.stats.checkpointKeyChanges++;
    this.emit('checkpoint-key', { current, next: next ?? null, switched });
    this.log(`device ${this.id}: gateway checkpoint key ${switched ? `switched to ${current}` : next ? `${next} announced as next` : 'announcement withdrawn'}`);
    try {
      this.persist(this.state);
    } catch (err) {
      this.log(`device ${this.id}: could not write its state file (${(err as Error).message}): the checkpoint keys are held in memory until the next write`);
    }
  }

  private onReceipt(r: Receipt): void {
    if (this.dropReceipts) return;
    const e = this.outbox.get(r.seq);
    if (!e) {
      this.stats.duplicateReceipts++;
      this.emit('receipt', r, null);
      return;
    }
    const checked = checkReceipt(r, e.bytes, this.gatewayKeys);
    const bad = checked.code;
    if (bad) {
      this.stats.receiptInvalid++;
      // SPEC §8 says alert: one line per code per device (a forger could send thousands; the count is in the stats)
      if (!this.alertedReceiptCodes.has(bad)) {
        this.alertedReceiptCodes.add(bad);
        this.log(`device ${this.id}: ALERT a receipt for seq ${r.seq} fails its check (${bad}): the reading is kept and resent; a forged answer or a gateway not the provisioned one (further ${bad} receipts are counted, not logged)`);
      }
      this.emit('receipt-invalid', r, bad);
      return; // keep the reading; it is resent on the timer (SPEC §8)
    }
    // Only a receipt that holds shows the gateway takes readings again: a reconnect starts from the first backoff
    // step. One that fails its check, or names no kept reading, shows nothing (anyone on the path can send it):
    // counted as progress, a gateway answering with bad receipts and closing kept the device at the first step.
    this.link.progress();
    this.outbox.delete(r.seq);
    this.journal?.remove(r.seq);
    this.seq.accepted(r.seq);
    // A checkpoint older than the kept one (a receipt replayed to a resent reading) decides nothing about the keys
    // (SPEC §7): taken, its stale announcement dropped a next key announced since (found by review).
    if (checked.keys && !this.logWatch.isOlder(r.checkpoint)) this.holdGatewayKeys(checked.keys, checked.switched);
    const evidence = this.logWatch.check(r.checkpoint, Date.now()); // null without a checkpoint key: nothing is watched
    if (evidence) {
      this.stats.logRollbacks++;
      this.emit('log-rollback', evidence, r);
    }
    const latency = Math.round(monotonicMs() - e.firstSentMs);
    this.stats.receipted++;
    this.stats.latencies.record(latency);
    this.lastReceipt = r;
    this.emit('receipt', r, latency);
    if (this.outbox.size === 0) this.idle();
  }

  /** Nothing kept is left: say so, and after a "stop sending" rejection leave and come back later (SPEC §8). */
  private idle(): void {
    if (this.halted) this.link.retryLater();
    this.emit('idle');
  }

  private onRejection(rj: Rejection): void {
    this.stats.rejected[rj.code] = (this.stats.rejected[rj.code] ?? 0) + 1;
    const e = rj.seq !== null ? this.outbox.get(rj.seq) : undefined;
    if (!e) {
      // It names no kept reading (a seq not outstanding, or none): SPEC §8's actions are about the rejected reading, so
      // nothing changes. A "stop sending" code here halted the device for good (found by review): with nothing kept
      // to answer, it never reached idle(), so it never left and came back, which is what clears a halt.
      this.emit('rejection', rj, null);
      return;
    }
    if (!KEEP_CODES.includes(rj.code)) {
      this.outbox.delete(e.seq); // drop (SPEC §8); UNAVAILABLE, STORAGE_UNAVAILABLE: keep, resend later
      this.journal?.remove(e.seq);
    }
    if (rj.code === 'REPLAY') {
      try {
        this.seq.jumpPast(e.seq);
      } catch (err) {
        // Not written, so not made (SPEC §5): the next reading takes its number as before, and a REPLAY of it jumps
        // again. Thrown on, it lost the rejection event and idle() (found by review).
        this.log(`device ${this.id}: REPLAY of seq ${e.seq}: could not write its state file (${(err as Error).message}): the seq jump is not made`);
      }
    }
    if (STOP_CODES.includes(rj.code)) this.halted ??= rj.code;
    this.emit('rejection', rj, e);
    if (this.outbox.size === 0) this.idle();
  }

  /** Next rejection (or the first one matching `pred`), within timeoutMs. */
  nextRejection(timeoutMs = 10_000, pred: (r: Rejection) => boolean = () => true): Promise<Rejection> {
    return nextEvent(this, 'rejection', pred, timeoutMs, `device ${this.id}: no rejection`);
  }

  nextReceipt(seq: number, timeoutMs = 10_000): Promise<Receipt> {
    return nextEvent<Receipt>(this, 'receipt', (r) => r.seq === seq, timeoutMs, `device ${this.id}: no receipt for seq ${seq}`);
  }

  /** Resolve once every reading has its answer (or after timeoutMs; returns what is still pending). */
  async drain(timeoutMs = 10_000): Promise<number> {
    const until = monotonicMs() + timeoutMs;
    await this.chain;
    while (this.outbox.size > 0 && monotonicMs() < until) await new Promise((r) => setTimeout(r, 25));
    return this.outbox.size;
  }

  /** Disconnect and stop reconnecting; a connection attempt in flight is ended and awaited, so none outlives this. */
  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.link.close();
    await this.chain;
    await this.journal?.close(); // pending removals written; the log is reopened if the device is used again
    this.logWatch.flush();
    this.releaseState?.();
    this.releaseState = null;
  }
}

/**
 * The keys a state file holds: its current checkpoint key (null: none provisioned) and the announced next one. A next
 * key that does not parse (a damaged file) is dropped: the current key still checks receipts, and the gateway's next
 * announcing checkpoint gives it again.
 */
function gatewayKeysOf(g: DeviceStateFile['gateway']): CheckpointKeys | null {
  if (!g.checkpointVerifierKey) return null;
  const current = parseVerifierKey(g.checkpointVerifierKey);
  let next: NoteVerifier | null = null;
  if (g.nextCheckpointVerifierKey !== undefined) {
    try {
      next = parseVerifierKey(g.nextCheckpointVerifierKey);
    } catch {
      delete g.nextCheckpointVerifierKey;
    }
  }
  return { current, next };
}