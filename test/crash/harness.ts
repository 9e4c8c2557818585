/**
 * The crash tests' harness: the gateway as its own process (`node dist/cli/main.js gateway`, what `npm start` runs;
 * ports 0, learnt from its start-up lines), a fleet of real device-sim devices publishing over MQTT (QoS 1) from
 * this process with every answer recorded, and a read-only look at the ledger once the gateway is down.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Device, deviceFrom, onboardDevice, RootAuthority, type Agency, type DeviceKind } from '../../device-sim/index.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger, type VerifyReport } from '../../ledger/verify.js';
import { decodeState } from '../../ledger/state.js';
import { readPlan } from '../../ledger/tree.js';
import { nodeMerkleHasher } from '../../ledger/hasher.js';
import { decodeLogEntry, ENTRY_READING, leafHash } from '../../protocol/log-entry.js';
import { consistencyPlan } from '../../protocol/merkle/index.js';
import { openReading } from '../../protocol/reading.js';
import { toHex } from '../../protocol/bytes.js';
import type { Receipt, Rejection } from '../../protocol/receipt.js';

const MAIN = join(process.cwd(), 'dist/cli/main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface GatewayProcess {
  child: ChildProcess;
  httpUrl: string;
  mqttUrl: string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves when the process has exited and all it wrote to stdout and stderr has been read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
}

/** Start the gateway CLI on `dataDir`; resolves once it printed its URLs (it listens then). */
export async function spawnGateway(opts: { dataDir: string; trustFile: string; env?: Record<string, string> }): Promise<GatewayProcess> {
  const env = {
    ...process.env,
    ORIGINPROOF_DATA_DIR: opts.dataDir,
    ORIGINPROOF_TRUST_FILE: opts.trustFile,
    ORIGINPROOF_HOST: '127.0.0.1',
    ORIGINPROOF_HTTP_PORT: '0',
    ORIGINPROOF_MQTT_PORT: '0',
    ORIGINPROOF_LOG_LEVEL: 'warn',
    ...opts.env,
  };
  const child = spawn(process.execPath, [MAIN, 'gateway', '--verify-workers', '1'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let running = true;
  child.once('exit', () => (running = false));
  // 'close', not 'exit': at 'exit' the pipes may still hold what the process wrote last (node's ChildProcess docs),
  // such as a crash point's line right before its SIGKILL; one run under VM-like freezes found stderr still empty.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const urls = await new Promise<{ httpUrl: string; mqttUrl: string }>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const http = /HTTP API\s+(http:\/\/\S+)/.exec(out);
      const mqtt = /MQTT\s+(mqtt:\/\/\S+)/.exec(out);
      if (http && mqtt) resolve({ httpUrl: http[1]!, mqttUrl: mqtt[1]! });
    });
    void exited.then(({ code, signal }) => reject(new Error(`gateway exited (${code ?? signal}) before it was ready:\n${out}\n${err}`)));
  });
  return { child, ...urls, stderr: () => err, exited, alive: () => running };
}

/** SIGKILL (if still running) and wait for the exit. */
export async function killGateway(gw: GatewayProcess | null | undefined): Promise<void> {
  if (!gw || !gw.alive()) return;
  gw.child.kill('SIGKILL');
  await gw.exited;
}

/** `originproof ledger verify --data DIR`, as an operator runs it. */
export function cliLedgerVerify(dataDir: string): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [MAIN, 'ledger', 'verify', '--data', dataDir], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout + r.stderr };
}

export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** An agency of `root` registered at the gateway, and devices onboarded with their state and outbox on disk. */
export async function setUpFleet(root: RootAuthority, httpUrl: string, count: number, stateDir: string): Promise<{ agency: Agency; devices: Device[] }> {
  const agency = await root.agency('crash.example');
  await agency.registerSelf(httpUrl);
  const kinds: DeviceKind[] = ['temperature-sensor', 'water-meter', 'air-quality-sensor'];
  const devices: Device[] = [];
  for (let i = 0; i < count; i++) {
    const o = await onboardDevice(agency, { gateway: { httpUrl, mqttUrl: 'mqtt://127.0.0.1:1' }, kind: kinds[i % kinds.length]!, dir: stateDir });
    devices.push(deviceFrom(o, { reconnectMinMs: 50, reconnectMaxMs: 250, resendTimeoutMs: 30_000 }));
  }
  return { agency, devices };
}

/** A root authority and a temp dir holding its trust file (what the gateway starts with). */
export async function newRoot(): Promise<{ root: RootAuthority; dir: string; trustFile: string }> {
  const root = await RootAuthority.create('root.example');
  const dir = await mkdtemp(join(tmpdir(), 'op-crash-'));
  const trustFile = join(dir, 'trust.json');
  await writeFile(trustFile, root.trustJson());
  return { root, dir, trustFile };
}

/**
 * What the devices sent and got back: every seq each device signed (`sent`), every receipt (first and duplicates)
 * and rejection. `publish` runs the fleet at `rate` readings/s in total until `stop`; readings made while the
 * gateway is down wait in the devices' outboxes and go out after the reconnect.
 */
export class FleetRecorder {
  readonly sent = new Map<string, number[]>();
  readonly receipts = new Map<string, Map<number, Receipt[]>>();
  readonly rejections = new Map<string, Rejection[]>();
  /** Receipts a device refused (its own check, device-sim/answers.ts: leaf hash, checkpoint key, index below size): none may come. */
  readonly refusedReceipts: { deviceId: string; receipt: Receipt; code: string }[] = [];
  receiptCount = 0;
  #stop = false;
  #loop: Promise<void> | null = null;
  #inflight = new Set<Promise<unknown>>();

  constructor(readonly devices: Device[]) {
    for (const d of devices) {
      this.sent.set(d.id, []);
      this.receipts.set(d.id, new Map());
      this.rejections.set(d.id, []);
      d.on('receipt', (r: Receipt) => {
        const list = this.receipts.get(d.id)!;
        list.set(r.seq, [...(list.get(r.seq) ?? []), r]);
        this.receiptCount++;
      });
      d.on('rejection', (r: Rejection) => this.rejections.get(d.id)!.push(r));
      d.on('receipt-invalid', (r: Receipt, code: string) => this.refusedReceipts.push({ deviceId: d.id, receipt: r, code }));
    }
  }

  /** Point every device at a (re)started gateway; devices reconnect on their own. */
  pointAt(mqttUrl: string): void {
    for (const d of this.devices) d.state.gateway.mqttUrl = mqttUrl;
  }

  publish(rate: number): void {
    this.#stop = false;
    const t0 = Date.now();
    let issued = 0;
    this.#loop = (async () => {
      while (!this.#stop) {
        const due = Math.floor((rate * (Date.now() - t0)) / 1000);
        for (; issued < due; issued++) {
          const d = this.devices[issued % this.devices.length]!;
          const p = d.sendReading().then((seq) => {
            if (seq !== null) this.sent.get(d.id)!.push(seq);
          });
          this.#inflight.add(p);
          void p.finally(() => this.#inflight.delete(p));
        }
        await sleep(10);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#loop;
    await Promise.all([...this.#inflight]);
  }

  totalSent(): number {
    let n = 0;
    for (const s of this.sent.values()) n += s.length;
    return n;
  }

  rejectionCodes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const list of this.rejections.values()) for (const r of list) out[r.code] = (out[r.code] ?? 0) + 1;
    return out;
  }
}

/** What the ledger holds, read after the gateway stopped: every reading entry by device and seq, and the index. */
export interface LedgerContents {
  report: VerifyReport;
  /** device -> seq -> entries (index, leaf hash hex) holding that reading: more than one is a duplicate. */
  readings: Map<string, Map<number, { index: number; leaf: string; payload: Uint8Array }[]>>;
  /** device -> seq -> index, from the device index the gateway's replay check reads (what "last accepted" comes from). */
  deviceIndex: Map<string, Map<number, number>>;
  size: number;
  /** Every entry's leaf hash (protocol leafHash), in log order: the roots of the log's prefixes fold from these. */
  leaves: Uint8Array[];
  /** The latest checkpoint on disk (the one stored at the state record's tree size, what a restart serves); undefined while empty. */
  latestCheckpoint: string | undefined;
  /** size -> consistency proof from that size to `size`, made from the stored tree as the ledger makes them (GET /v1/proofs/consistency). */
  consistency: Map<number, Uint8Array[]>;
  /** size -> the checkpoint stored at that size (GET /v1/checkpoints/SIZE), for the same sizes as `consistency`. */
  storedCheckpoints: Map<number, string | undefined>;
}

/** `proofsFrom`: the tree sizes to make a consistency proof from and read the stored checkpoint of, up to the size on disk (those beyond it are skipped). */
export async function readLedger(ledgerDir: string, deviceIds: readonly string[], proofsFrom: Iterable<number> = []): Promise<LedgerContents> {
  const backend = await LevelBackend.open(ledgerDir, { sync: false });
  try {
    const report = await verifyLedger(backend, { workers: 0 });
    const readings: LedgerContents['readings'] = new Map(deviceIds.map((id) => [id, new Map()]));
    let size = 0;
    const leaves: Uint8Array[] = [];
    for await (const [first, run] of backend.entriesFrom(0)) {
      run.forEach((bytes, i) => {
        const e = decodeLogEntry(bytes);
        expect(e.index).toBe(first + i);
        size = Math.max(size, e.index + 1);
        const leaf = leafHash(bytes);
        leaves.push(leaf);
        if (e.type !== ENTRY_READING) return;
        const c = openReading(e.payload, { maxBytes: Number.MAX_SAFE_INTEGER }).claims;
        const bySeq = readings.get(toHex(c.deviceId));
        if (!bySeq) return;
        bySeq.set(c.seq, [...(bySeq.get(c.seq) ?? []), { index: e.index, leaf: toHex(leaf), payload: e.payload }]);
      });
    }
    const deviceIndex: LedgerContents['deviceIndex'] = new Map();
    for (const id of deviceIds) {
      const m = new Map<number, number>();
      for await (const h of backend.deviceHits(id, {})) m.set(h.seq, h.index);
      deviceIndex.set(id, m);
    }
    const state = await backend.readState();
    const treeSize = state ? decodeState(state).treeSize : 0;
    expect(treeSize).toBe(report.entries);
    expect(leaves.length).toBe(treeSize);
    const latestCheckpoint = treeSize > 0 ? await backend.getCheckpoint(treeSize) : undefined;
    const consistency = new Map<number, Uint8Array[]>();
    const storedCheckpoints = new Map<number, string | undefined>();
    for (const from of proofsFrom) {
      if (from <= 0 || from > treeSize) continue;
      consistency.set(from, await readPlan(backend, consistencyPlan(from, treeSize), nodeMerkleHasher));
      storedCheckpoints.set(from, await backend.getCheckpoint(from));
    }
    return { report, readings, deviceIndex, size: report.entries, leaves, latestCheckpoint, consistency, storedCheckpoints };
  } finally {
    await backend.close();
  }
}

/**
 * The invariants after any crash: the ledger verifies; no reading is in it twice; per device its readings are
 * seqs 0..n (no gap) and the device index (where the gateway's last accepted seq comes from) holds exactly them,
 * so the last accepted seq is the highest in the ledger; every receipt a device got names an entry that is there,
 * with that reading and that leaf hash, and all receipts for one reading agree; no device refused a receipt.
 */
export function checkCrashInvariants(l: LedgerContents, fleet: FleetRecorder): { readings: number; receipts: number } {
  expect(l.report.problem).toBeUndefined();
  expect(l.report.ok).toBe(true);
  // At every kill, not only at the end (stats.receiptInvalid): its reading stays in the outbox and is resent.
  expect(fleet.refusedReceipts.map((x) => [x.deviceId, x.receipt.seq, x.code])).toEqual([]);
  let readings = 0;
  let receipts = 0;
  for (const d of fleet.devices) {
    const inLedger = l.readings.get(d.id)!;
    const seqs = [...inLedger.keys()].sort((a, b) => a - b);
    readings += seqs.length;
    for (const [seq, list] of inLedger) expect(list.length, `device ${d.id} seq ${seq} is in the ledger ${list.length} times`).toBe(1);
    expect(seqs, `device ${d.id}: gaps in the logged seqs`).toEqual(seqs.map((_, i) => i));
    const index = l.deviceIndex.get(d.id)!;
    expect([...index.entries()].sort((a, b) => a[0] - b[0])).toEqual(seqs.map((s) => [s, inLedger.get(s)![0]!.index]));
    const lastAccepted = seqs.length ? seqs[seqs.length - 1]! : undefined;
    expect(index.size ? Math.max(...index.keys()) : undefined).toBe(lastAccepted);
    for (const [seq, list] of fleet.receipts.get(d.id)!) {
      const entry = inLedger.get(seq)?.[0];
      expect(entry, `device ${d.id} holds a receipt for seq ${seq}, which is not in the ledger`).toBeDefined();
      for (const r of list) {
        receipts++;
        expect(r.index).toBe(entry!.index);
        expect(toHex(r.leafHash)).toBe(entry!.leaf);
      }
    }
  }
  return { readings, receipts };
}

/** After the fleet drained: every reading each device signed is in the ledger once, with its exact bytes, and receipted. */
export function checkEverythingReceipted(l: LedgerContents, fleet: FleetRecorder): void {
  for (const d of fleet.devices) {
    const sent = [...fleet.sent.get(d.id)!].sort((a, b) => a - b);
    expect(sent.length).toBeGreaterThan(0);
    expect(d.outbox.size, `device ${d.id} still holds unreceipted readings`).toBe(0);
    expect([...l.readings.get(d.id)!.keys()].sort((a, b) => a - b)).toEqual(sent);
    const got = fleet.receipts.get(d.id)!;
    for (const seq of sent) expect(got.get(seq)?.length ?? 0, `device ${d.id} seq ${seq} never got a receipt`).toBeGreaterThan(0);
    expect(d.stats.receiptInvalid).toBe(0);
    // Receipts go out only once their block is durable: a gateway killed at any point never signs a smaller tree
    // after a restart, so no device may see the log go back (device-sim/log-watch.ts: no false alarm).
    expect(d.stats.logRollbacks, `device ${d.id} saw the log go back`).toBe(0);
    expect(d.logWatch.size, `device ${d.id} kept no checkpoint`).toBeGreaterThan(0); // it did watch
  }
}

export async function removeDirs(dirs: string[]): Promise<void> {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
