/**
 * The fleet runner: N devices, each on its own MQTT connection, sending R readings per second in total for a
 * duration, with attack modes running alongside; answers are counted and summarised (sent, receipted, rejected
 * by code, resent, receipt latency percentiles, each attack's outcome, devices that saw the log go back).
 */
import { join } from 'node:path';
import { fail, fromHex } from '../protocol/index.js';
import { Agency, fetchCheckpointKey } from './agency.js';
import { notRun, runAttack, type AttackName, type AttackResult } from './attacks.js';
import { ConnackRefused } from './connack.js';
import { Device } from './device.js';
import { monotonicMs } from './clock.js';
import { LatencyHistogram } from './latency.js';
import { MANIFEST_NAME, readManifest, type FleetManifest, type GatewayEndpoint } from './onboard.js';
import { loadSecureElement } from './secure-element.js';
import { readState, type LogEvidence } from './state.js';

export interface FleetProgress {
  elapsedMs: number;
  durationMs: number;
  sent: number;
  receipted: number;
  rejected: number;
}

export interface ScheduledEvent {
  /** Milliseconds after the fleet starts sending. */
  atMs: number;
  run: () => Promise<void> | void;
}

export interface FleetOptions {
  devices: Device[];
  /** Readings per second over the whole fleet. */
  rate: number;
  durationMs: number;
  attacks?: AttackName[];
  /** Needed by the attacks (they onboard their own devices). */
  agency?: Agency;
  gateway?: GatewayEndpoint & { aud: string; checkpointVerifierKey: string };
  /** The gateway's maxReadingBytes (for the oversized attack); default 1024, the gateway default. */
  maxReadingBytes?: number;
  /** How long to wait, after sending stops, for the last answers. */
  drainMs?: number;
  attackTimeoutMs?: number;
  events?: ScheduledEvent[];
  onProgress?: (p: FleetProgress) => void;
  /** Leave the devices connected at the end (the caller closes them). */
  keepOpen?: boolean;
  /**
   * Stop early (`sim run` on SIGINT or SIGTERM): no new readings from then on; the answers to those in flight are
   * waited for (drainMs), the devices closed, and the summary says when it stopped (`stoppedAfterMs`).
   */
  signal?: AbortSignal;
}

export interface FleetSummary {
  devices: number;
  /** Devices that were connected during the run: at once, or later by a retry after a failed first attempt. */
  connected: number;
  /** First connection attempts that failed, by code (CONNACK_..., or CONNECT_ERROR: unreachable, TLS). */
  connectFailures: Record<string, number>;
  rate: number;
  durationMs: number;
  /** Set when the run was stopped before its duration (FleetOptions.signal): how long it had sent for. */
  stoppedAfterMs: number | null;
  sent: number;
  receipted: number;
  /** Fleet readings and attacks together, by code. */
  rejected: Record<string, number>;
  resent: number;
  receiptInvalid: number;
  /** Readings still without an answer at the end. */
  pending: number;
  /**
   * Devices of the fleet a rejection told to stop sending (SPEC §8: CERT_REVOKED, CERT_EXPIRED, ...) and still
   * stopped at the end, by that code: they took no further part in the run.
   */
  halted: Record<string, number>;
  /**
   * Readings a device could not make or keep (its sequence number or outbox log not written: ENOSPC, EISDIR, ...),
   * by error code: never published (SPEC §5, §7), so not in `sent`.
   */
  notSent: Record<string, number>;
  /** Receipt latency over every device (percentiles within 1.6 % above the exact ones, see latency.ts). */
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  attacks: AttackResult[];
  attacksOk: boolean;
  /**
   * Devices whose receipts showed the log went back or forked (log-watch.ts, CONSISTENCY_INVALID): how many, and one
   * example (that device's latest evidence). Each device's evidence, both signed notes, is in its state file.
   */
  logRollbacks: { devices: number; example: { deviceId: string; evidence: LogEvidence } | null };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFleet(o: FleetOptions): Promise<FleetSummary> {
  const devices = o.devices;
  const attacks = o.attacks ?? [];
  if (attacks.length > 0 && (!o.agency || !o.gateway)) throw new Error('attacks need the agency (key and certificate) and the gateway endpoint');
  const connectFailures: Record<string, number> = {};
  const notSent: Record<string, number> = {};
  // A device takes part once connected: at the start, or when a retry after a failed first attempt connects (a
  // device keeps trying, SPEC §4). Until then it makes no readings.
  const live: Device[] = [];
  const joined = new Set<Device>();
  const joiners = devices.map((d) => {
    const join = () => {
      if (joined.has(d)) return;
      joined.add(d);
      live.push(d);
    };
    d.on('connected', join);
    return () => d.off('connected', join);
  });
  // Stopped while the fleet connects (10,000 devices take seconds, an unreachable gateway up to the connect timeout):
  // the attempts in flight are ended, their devices closed (closing again below does nothing), no reading is made.
  // Before, a signal then waited for every attempt's outcome and counted the ended ones as connect failures.
  const endConnecting = () => {
    for (const d of devices) if (!joined.has(d)) void d.close().catch(() => undefined);
  };
  o.signal?.addEventListener('abort', endConnecting, { once: true });
  if (!o.signal?.aborted) {
    await Promise.all(
      devices.map((d) =>
        d.connect().catch((err: unknown) => {
          if (o.signal?.aborted) return; // ended by the stop, not failed
          const code = err instanceof ConnackRefused ? err.code : 'CONNECT_ERROR';
          connectFailures[code] = (connectFailures[code] ?? 0) + 1;
        }),
      ),
    );
  }
  o.signal?.removeEventListener('abort', endConnecting);
  const total = () => {
    let sent = 0, receipted = 0, rejected = 0;
    for (const d of devices) {
      sent += d.stats.sent;
      receipted += d.stats.receipted;
      for (const n of Object.values(d.stats.rejected)) rejected += n;
    }
    return { sent, receipted, rejected };
  };

  const ctx = o.agency && o.gateway && attacks.length > 0 && !o.signal?.aborted
    ? { agency: o.agency, gateway: await attackGateway(o.gateway), maxReadingBytes: o.maxReadingBytes ?? 1024, timeoutMs: o.attackTimeoutMs ?? 10_000 }
    : null;
  const attackRuns = ctx ? attacks.map((a) => runAttack(a, ctx)) : attacks.map((name) => Promise.resolve(notRun(name)));

  const t0 = monotonicMs(); // the run's length on a clock the wall clock's steps do not move
  let issued = 0;
  let rr = 0;
  const pendingEvents = [...(o.events ?? [])].sort((a, b) => a.atMs - b.atMs);
  const eventRuns: Promise<unknown>[] = [];
  let lastProgress = 0;
  /** Make the readings due by `elapsed` ms, round robin over the connected devices that are not halted. */
  const issueDue = (elapsed: number) => {
    const due = Math.floor((o.rate * elapsed) / 1000);
    let guard = live.length;
    while (issued < due && live.length > 0 && guard > 0) {
      const d = live[rr++ % live.length]!;
      if (d.halted) {
        guard--;
        continue;
      }
      guard = live.length;
      issued++;
      void d.sendReading().catch((err: unknown) => {
        const code = (err as { code?: unknown }).code;
        const key = typeof code === 'string' ? code : 'ERROR';
        notSent[key] = (notSent[key] ?? 0) + 1;
      });
    }
    if (guard === 0) issued = due; // no device connected yet, or every one halted
  };
  while (monotonicMs() - t0 < o.durationMs && !o.signal?.aborted) {
    const elapsed = Math.round(monotonicMs() - t0);
    while (pendingEvents.length > 0 && pendingEvents[0]!.atMs <= elapsed) eventRuns.push(Promise.resolve(pendingEvents.shift()!.run()));
    issueDue(elapsed);
    if (o.onProgress && elapsed - lastProgress >= 200) {
      lastProgress = elapsed;
      o.onProgress({ elapsedMs: elapsed, durationMs: o.durationMs, ...total() });
    }
    await sleep(10);
  }
  const stoppedAfterMs = o.signal?.aborted ? Math.round(monotonicMs() - t0) : null;
  // The readings due between the last tick and the end: rate x duration in all (found by review: left out, a large
  // part of the run when signing held the loop back, though the summary said the rate).
  if (stoppedAfterMs === null) issueDue(o.durationMs);
  if (stoppedAfterMs === null) for (const e of pendingEvents) eventRuns.push(Promise.resolve(e.run()));
  await Promise.allSettled(eventRuns);

  // Answers for what is still in flight.
  await Promise.all(devices.map((d) => d.drain(o.drainMs ?? 10_000)));
  const attackResults = await Promise.all(attackRuns);
  o.onProgress?.({ elapsedMs: o.durationMs, durationMs: o.durationMs, ...total() });
  if (!o.keepOpen) await Promise.all(devices.map((d) => d.close()));
  for (const off of joiners) off();

  const rejected: Record<string, number> = {};
  let resent = 0, receiptInvalid = 0, pending = 0;
  const halted: Record<string, number> = {};
  const lat = new LatencyHistogram();
  for (const d of devices) {
    for (const [code, n] of Object.entries(d.stats.rejected)) rejected[code] = (rejected[code] ?? 0) + n;
    resent += d.stats.resent;
    receiptInvalid += d.stats.receiptInvalid;
    pending += d.outbox.size;
    if (d.halted) halted[d.halted] = (halted[d.halted] ?? 0) + 1;
    lat.merge(d.stats.latencies);
  }
  for (const a of attackResults) if (a.got) rejected[a.got] = (rejected[a.got] ?? 0) + 1;
  const t = total();
  return {
    devices: devices.length,
    connected: joined.size,
    connectFailures,
    rate: o.rate,
    durationMs: o.durationMs,
    stoppedAfterMs,
    sent: t.sent,
    receipted: t.receipted,
    rejected,
    resent,
    receiptInvalid,
    pending,
    halted,
    notSent,
    latencyMs: { p50: lat.percentile(50), p95: lat.percentile(95), p99: lat.percentile(99), max: lat.max },
    attacks: attackResults,
    attacksOk: attackResults.every((a) => a.ok),
    logRollbacks: rollbacksSeen(devices),
  };
}

/**
 * The endpoint the attacks onboard their fresh devices with: the checkpoint key the gateway publishes now (GET /v1/log),
 * as `sim onboard` provisions. fleet.json keeps the key of its onboarding: after a key rotation the attacks' devices
 * failed every receipt with it (CHECKPOINT_INVALID), and `replay` and `revoked` reported "not rejected" (found by
 * review). A gateway that does not answer keeps the saved one: the attacks then fail registering, saying so.
 */
async function attackGateway(g: NonNullable<FleetOptions['gateway']>): Promise<NonNullable<FleetOptions['gateway']>> {
  try {
    return { ...g, checkpointVerifierKey: await fetchCheckpointKey(g.httpUrl) };
  } catch {
    return g;
  }
}

/** Devices that saw the log go back since they were made (their stats), and the latest evidence of the first. */
function rollbacksSeen(devices: Device[]): FleetSummary['logRollbacks'] {
  const saw = devices.filter((d) => d.stats.logRollbacks > 0);
  const first = saw[0];
  const evidence = first?.state.evidence?.at(-1);
  return { devices: saw.length, example: first && evidence ? { deviceId: first.id, evidence } : null };
}

/** Open a fleet onboarded by `sim onboard` (its fleet.json and state files). */
export function loadFleet(dir: string, opts: { count?: number; mqttUrl?: string; httpUrl?: string; tlsCa?: string; resendTimeoutMs?: number } = {}): { manifest: FleetManifest; devices: Device[]; agency: Agency | null } {
  const manifest = readManifest(join(dir, MANIFEST_NAME));
  // A run of no devices would measure nothing and report "sent 0" as if it had worked.
  if (manifest.devices.length === 0) fail('MALFORMED', `${join(dir, MANIFEST_NAME)} lists no devices: onboard some first (originproof sim onboard --out ${dir})`, 'devices');
  if (opts.mqttUrl) manifest.gateway.mqttUrl = opts.mqttUrl;
  if (opts.httpUrl) manifest.gateway.httpUrl = opts.httpUrl;
  if (opts.tlsCa) manifest.gateway.tlsCa = opts.tlsCa;
  const files = manifest.devices.slice(0, opts.count ?? manifest.devices.length);
  if (opts.count !== undefined && files.length < opts.count) fail('MALFORMED', `${dir} holds ${manifest.devices.length} devices; onboard more to run ${opts.count}`, 'devices');
  const devices: Device[] = [];
  try {
    for (const f of files) {
      const statePath = join(dir, f);
      const state = readState(statePath);
      // The overrides are for this run: the device's state file keeps the addresses it was onboarded with.
      devices.push(new Device({ state, statePath, se: loadSecureElement(join(dir, state.keyFile)), resendTimeoutMs: opts.resendTimeoutMs ?? 10_000, mqttUrl: opts.mqttUrl, httpUrl: opts.httpUrl, tlsCa: opts.tlsCa }));
    }
  } catch (err) {
    // The devices opened already let go of their state files (state-lock.ts): the caller never gets them to close.
    for (const d of devices) void d.close().catch(() => undefined);
    throw err;
  }
  let agency: Agency | null = null;
  try {
    const a = Agency.load(manifest.agency.keyFile, manifest.agency.certFile);
    agency = new Agency(a.signer, a.cert, fromHex(manifest.agency.salt));
  } catch {
    agency = null;
  }
  return { manifest, devices, agency };
}

export function formatSummary(s: FleetSummary): string {
  const lines = [
    `devices ${s.devices} (connected ${s.connected}${Object.keys(s.connectFailures).length ? `, first attempts failed ${JSON.stringify(s.connectFailures)}` : ''}), ${s.rate} readings/s for ${(s.durationMs / 1000).toFixed(1)} s${s.stoppedAfterMs !== null ? `, STOPPED after ${(s.stoppedAfterMs / 1000).toFixed(1)} s` : ''}`,
    `sent ${s.sent}   receipted ${s.receipted}   resent ${s.resent}   pending ${s.pending}   bad receipts ${s.receiptInvalid}`,
    `receipt latency  p50 ${s.latencyMs.p50} ms   p95 ${s.latencyMs.p95} ms   p99 ${s.latencyMs.p99} ms   max ${s.latencyMs.max} ms`,
  ];
  const halted = Object.entries(s.halted).sort();
  if (halted.length) lines.push(`devices told to stop sending: ${halted.map(([c, n]) => `${c} ${n}`).join(', ')}`);
  const failed = Object.entries(s.notSent).sort();
  if (failed.length) lines.push(`not sent (could not be made or kept): ${failed.map(([c, n]) => `${c} ${n}`).join(', ')}`);
  const codes = Object.entries(s.rejected).sort();
  lines.push(codes.length ? 'rejected by code:' : 'rejected: none');
  for (const [c, n] of codes) lines.push(`  ${c.padEnd(26)} ${n}`);
  if (s.attacks.length) {
    lines.push('attacks:');
    lines.push(`  ${'attack'.padEnd(16)} ${'expected'.padEnd(26)} ${'got'.padEnd(26)} ok`);
    for (const a of s.attacks) lines.push(`  ${a.name.padEnd(16)} ${a.expected.padEnd(26)} ${(a.got ?? '-').padEnd(26)} ${a.ok ? 'yes' : 'NO'}   ${a.detail}`);
  }
  const rb = s.logRollbacks;
  if (rb.devices > 0) {
    const e = rb.example?.evidence;
    const what = !e ? '' : e.kind === 'rollback' ? `, e.g. ${rb.example!.deviceId}: ${e.origin} size ${e.keptSize} -> ${e.receivedSize}` : `, e.g. ${rb.example!.deviceId}: ${e.origin} fork at size ${e.keptSize}`;
    lines.push(`LOG ROLLBACK (CONSISTENCY_INVALID): seen by ${rb.devices} device${rb.devices === 1 ? '' : 's'}${what}; both signed checkpoints are in each device's state file (evidence)`);
  }
  return lines.join('\n');
}
