/**
 * What the ingestion pipeline needs from the ledger (gateway/ledger-adapter.ts implements it over ledger/): appends
 * that report once their block is durable, and the per-device sequence state a replay check reads.
 */
export interface AppendedEntry {
  index: number;
  leafHash: Uint8Array;
  receivedAtMs: number;
  checkpoint: string;
}

/** One accepted reading for the log. The log reads it again when its block is written: a fresh object each time. */
export interface ReadingInput {
  type: number;
  payload: Uint8Array;
  certRef: Uint8Array;
  receivedAtMs: number;
  deviceId: string;
  seq: number;
}

/** What the pipeline needs from the ledger. */
export interface ReadingLog {
  /** Append; `done` is called once (never synchronously): with the entry once its block is durable, or an error. */
  submit(input: ReadingInput, done: (err: unknown, entry?: AppendedEntry) => void): void;
  lastSeq(deviceId: string): Promise<number | undefined>;
  /** The stored reading for (device, seq), to answer a resend with its original receipt. */
  findBySeq(deviceId: string, seq: number): Promise<{ payload: Uint8Array; index: number; receivedAtMs: number; certRef: Uint8Array; leafHash: Uint8Array } | undefined>;
  latestCheckpoint(): string | undefined;
}
