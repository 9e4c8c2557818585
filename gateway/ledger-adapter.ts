/**
 * The gateway's view of the ledger: what the pipeline (ReadingLog), the registry (RegistryLog) and the record
 * routes need, over ledger/Ledger. Thin: no policy here.
 */
import { Ledger } from '../ledger/ledger.js';
import { nodeMerkleHasher } from '../ledger/hasher.js';
import type { NoteSigner } from '../protocol/checkpoint.js';
import { decodeLogEntry, ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_REVOCATION, type EntryType } from '../protocol/log-entry.js';
import type { AppendedEntry, ReadingLog } from './pipeline.js';
import type { RegistryLog } from './registry.js';

export interface GatewayLedgerOptions {
  origin: string;
  signer: NoteSigner & { publicKey: Uint8Array };
  blockMaxEntries: number;
  blockMaxMs: number;
  clock?: () => number;
  onBlock?: (treeSize: number) => void;
}

export class GatewayLedger implements ReadingLog, RegistryLog {
  constructor(
    readonly ledger: Ledger,
    private readonly onBlock: (treeSize: number) => void,
  ) {}

  size(): number {
    return this.ledger.size;
  }

  async submit(input: { type: number; payload: Uint8Array; certRef: Uint8Array; receivedAtMs: number; deviceId: string; seq: number }): Promise<AppendedEntry> {
    const r = await this.ledger.submit({ ...input, type: input.type as EntryType });
    this.onBlock(r.index + 1);
    return { index: r.index, leafHash: r.leafHash, receivedAtMs: r.receivedAtMs, checkpoint: r.checkpoint };
  }

  lastSeq(deviceId: string): Promise<number | undefined> {
    return this.ledger.lastSeq(deviceId);
  }

  async findBySeq(deviceId: string, seq: number) {
    const found = await this.ledger.findBySeq(deviceId, seq);
    if (!found) return undefined;
    const e = decodeLogEntry(found.entry);
    return { payload: e.payload, index: e.index, receivedAtMs: e.receivedAtMs, certRef: e.certRef ?? new Uint8Array(32), leafHash: nodeMerkleHasher.hashLeaf(found.entry) };
  }

  latestCheckpoint(): string | undefined {
    return this.ledger.latestCheckpoint;
  }

  async appendRegistryEvent(type: number, payload: Uint8Array, certRef: Uint8Array | undefined): Promise<{ index: number }> {
    const r = await this.ledger.submit({ type: type as EntryType, payload, ...(certRef ? { certRef } : {}) });
    this.onBlock(r.index + 1);
    return { index: r.index };
  }

  /** Registry events of all three types, merged in log order, read page by page. */
  async *registryEvents(): AsyncIterable<{ type: number; payload: Uint8Array; index: number }> {
    const indexes: number[] = [];
    for (const type of [ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_REVOCATION]) {
      let after: number | undefined;
      for (;;) {
        const page = await this.ledger.indexesByType(type, { limit: 10_000, ...(after === undefined ? {} : { afterIndex: after }) });
        indexes.push(...page);
        if (page.length < 10_000) break;
        after = page[page.length - 1];
      }
    }
    indexes.sort((a, b) => a - b);
    for (const index of indexes) {
      const bytes = await this.ledger.getEntry(index);
      if (!bytes) continue;
      const e = decodeLogEntry(bytes);
      yield { type: e.type, payload: e.payload, index };
    }
  }

  /** Seal the pending block now (graceful shutdown). */
  flush(): Promise<void> {
    return this.ledger.flush();
  }

  close(): Promise<void> {
    return this.ledger.close();
  }
}

export async function openGatewayLedger(dir: string, opts: GatewayLedgerOptions): Promise<GatewayLedger> {
  const ledger = await Ledger.open({ dir, origin: opts.origin, signer: opts.signer, blockMaxEntries: opts.blockMaxEntries, blockMaxDelayMs: opts.blockMaxMs, ...(opts.clock ? { clock: opts.clock } : {}) });
  return new GatewayLedger(ledger, opts.onBlock ?? (() => {}));
}
