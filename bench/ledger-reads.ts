/**
 * Ledger read bench: what the entry routes cost the store (ledger/queries.ts behind GET /v1/entries/:index, the time
 * listing and a device's listing), including the check of each entry against its leaf (ledger/entry-self-check.ts).
 * Builds a ledger of `--entries` readings from `--devices` devices (blocks of 1,000, unsynced), reopens it, then
 * times each read `--rounds` times at random places and reports medians (µs). Standalone, not in `npm run bench`:
 *   node dist/bench/ledger-reads.js [--entries 50000] [--devices 20,500] [--rounds 400]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ledger, type EntryInput } from '../ledger/ledger.js';
import { nodeNoteSigner } from '../ledger/signer.js';
import { quantile } from './stats.js';
import { standaloneArgs } from './standalone-args.js';

const ORIGIN = 'bench.originproof/log';
const T0 = 1_700_000_000_000;

export interface LedgerReadsResult {
  entries: number;
  devices: number;
  /** Median µs per call. */
  oneEntryUs: number;
  timePage100Us: number;
  timePage1000Us: number;
  devicePage100Us: number;
}

export async function runLedgerReads(entries: number, devices: number, rounds: number): Promise<LedgerReadsResult> {
  const dir = await mkdtemp(join(tmpdir(), 'op-ledger-reads-'));
  const base = { dir, origin: ORIGIN, signer: nodeNoteSigner(ORIGIN, new Uint8Array(32).fill(5)), sync: false };
  try {
    const writer = await Ledger.open(base);
    const payload = new Uint8Array(180).fill(0x42);
    const certRef = new Uint8Array(32).fill(7);
    const ids = Array.from({ length: devices }, (_, i) => `dev-${i}`);
    for (let first = 0; first < entries; first += 1000) {
      const inputs: EntryInput[] = [];
      for (let idx = first; idx < Math.min(entries, first + 1000); idx++) {
        inputs.push({ type: 1, payload, certRef, receivedAtMs: T0 + idx, deviceId: ids[idx % devices]!, seq: Math.floor(idx / devices) });
      }
      await writer.appendBlock(inputs);
    }
    await writer.close();
    const ledger = await Ledger.open(base);
    try {
      const random = (n: number) => Math.floor(Math.random() * n);
      const time = async (fn: () => Promise<unknown>): Promise<number> => {
        for (let i = 0; i < 20; i++) await fn(); // warm-up
        const samples: number[] = [];
        for (let i = 0; i < rounds; i++) {
          const t = performance.now();
          await fn();
          samples.push((performance.now() - t) * 1000);
        }
        return Math.round(quantile(samples));
      };
      const timePage = (limit: number) => async () => {
        const from = T0 + random(entries - limit);
        const found = await ledger.entriesByTime({ fromMs: from, toMs: T0 + entries, limit });
        if (found.length !== limit) throw new Error(`time page: ${found.length} of ${limit}`);
      };
      return {
        entries,
        devices,
        oneEntryUs: await time(async () => {
          if (!(await ledger.getEntry(random(entries)))) throw new Error('entry missing');
        }),
        timePage100Us: await time(timePage(100)),
        timePage1000Us: await time(timePage(1000)),
        devicePage100Us: await time(async () => {
          const perDevice = Math.floor(entries / devices);
          const after = random(Math.max(0, perDevice - 100)) - 1; // seqs after it: at least 100 left (-1: from the first)
          const found = await ledger.entriesByDevice(ids[random(devices)]!, { limit: 100, ...(after >= 0 ? { after } : {}) });
          if (found.length !== Math.min(100, perDevice)) throw new Error(`device page: ${found.length}`);
        }),
      };
    } finally {
      await ledger.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = standaloneArgs();
  const entries = args.number('entries', 50_000);
  const rounds = args.number('rounds', 400);
  for (const devices of (args.text('devices') ?? '20,500').split(',').map(Number)) {
    process.stdout.write(`${JSON.stringify(await runLedgerReads(entries, devices, rounds))}\n`);
  }
}
