/**
 * The outbox in non-volatile memory (SPEC §7 "keep every signed reading, the exact bytes, until you hold its
 * receipt"): `<id>.outbox.log` next to the device's state file.
 *
 * Why an append-only log with group commit, not a JSON file rewritten per change: a fleet of 100 devices at
 * 1000 readings/s would otherwise do 1000 synchronous temp-file + rename writes per second (plus as many for
 * receipts), blocking the event loop. Here
 *  - a new reading appends one line `+<seq> <base64 bytes>` through a file handle kept open, asynchronously;
 *    every reading signed while a write is in flight (or in the same event-loop turn, or within `flushMs`) rides
 *    the next single write (group commit), and the reading is published only once the write holding it has
 *    completed (the same rule as the seq persist: in non-volatile memory before it is sent);
 *  - a receipt or a drop-rejection appends `-<seq>`, buffered: it goes out with the next append or at most
 *    REMOVE_FLUSH_MS later (and on close). Losing it in a crash is harmless: the reading is resent unchanged and
 *    answered with its original receipt (SPEC §5);
 *  - the log is compacted (rewritten to the live entries, temp file + rename) once it holds many more lines than
 *    live entries, so it stays small.
 * Measured: 100 devices at 1000 readings/s in total do about one small async append per reading (each device sends
 * every ~100 ms, so there is little to group), none blocking; `flushMs` trades latency for fewer writes.
 * No fsync: like the state file, this survives a process restart (what the simulator models), not a power cut.
 * A torn last line (crash mid-append: the start of a line) belonged to a reading that was never published; loading
 * skips it (an unterminated last line that is not the start of one is damage, MALFORMED). A kept
 * reading whose line names another seq than its own signed envelope (a hand-edited or damaged line) is refused at
 * load, MALFORMED naming the line: resent, its answer would be paired with the wrong kept reading (SPEC §7).
 */
import { existsSync } from 'node:fs';
import { open, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeDirectoriesAsync } from '../node-fs/make-directories.js';
import { fail, fromBase64, toBase64 } from '../protocol/index.js';
import { readTextFileNamed } from './json-file.js';

/** Compact once the log holds more than this many lines beyond twice the live entries. */
const COMPACT_SLACK = 1_000;
/** Removals alone are written at most this long after the receipt. */
const REMOVE_FLUSH_MS = 1_000;

export function outboxFilePath(statePath: string): string {
  return statePath.replace(/\.json$/, '') + '.outbox.log';
}

function isBase64(text: string): boolean {
  try {
    fromBase64(text);
    return true;
  } catch {
    return false;
  }
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class OutboxJournal {
  /** seq -> base64 of the reading's exact bytes: what a compaction writes. */
  private readonly live = new Map<number, string>();
  private buf: string[] = [];
  private waiters: Waiter[] = [];
  private running: Promise<void> | null = null;
  private removeTimer: NodeJS.Timeout | null = null;
  private fh: FileHandle | null = null;
  private linesInFile = 0;
  /** Rewrite the whole file on the next flush (torn tail found at load, or a failed write). */
  private rewrite = false;
  /** Number of file writes so far (appends and compactions). */
  writes = 0;

  /**
   * Open the log at `path`, reading what it holds (once, at boot). `seqOf`: the seq inside a kept reading's own
   * signed envelope (null: none readable); with it, a kept line whose seq is not that one is MALFORMED (the device
   * passes readingSeqOf; without it, as for bytes that are no reading, the seqs are not compared).
   */
  constructor(readonly path: string, private readonly flushMs = 0, seqOf?: (bytes: Uint8Array) => number | null) {
    if (!existsSync(path)) return;
    const lines = readTextFileNamed(path).split('\n');
    const tail = lines.pop()!;
    if (tail !== '') {
      // A torn last line (a crash mid-append) is the start of a line: never complete, so never published. Anything
      // else unterminated there (a log zeroed in place, say) is damage, and may have been kept readings.
      if (!/^(?:[+-](?:\d+(?: [A-Za-z0-9+/=]*)?)?)?$/.test(tail)) {
        fail('MALFORMED', `${path} line ${lines.length + 1}: not a kept-reading line ("+<seq> <base64>" or "-<seq>"), nor the start of one`, `line ${lines.length + 1}`);
      }
      this.rewrite = true;
    }
    for (const [i, line] of lines.entries()) {
      const m = /^([+-])(\d+)(?: ([A-Za-z0-9+/=]+))?$/.exec(line);
      if (!m || (m[1] === '+' && !m[3]) || (m[3] && !isBase64(m[3]))) {
        // Only the last line can be torn by a crash (popped above; a failed write rewrites the file): a complete line
        // that does not parse was damaged from outside, and may have been a kept reading, which must not vanish unsaid.
        fail('MALFORMED', `${path} line ${i + 1}: not a kept-reading line ("+<seq> <base64>" or "-<seq>")`, `line ${i + 1}`);
      }
      this.linesInFile++;
      const seq = Number(m[2]);
      if (m[1] === '+' && seqOf) {
        const signed = seqOf(fromBase64(m[3]!));
        if (signed !== seq) {
          fail('MALFORMED', `${path} line ${i + 1}: kept under seq ${seq}, but its reading is signed with ${signed === null ? 'no readable seq' : `seq ${signed}`}`, `line ${i + 1}`);
        }
      }
      if (m[1] === '+') this.live.set(seq, m[3]!);
      else this.live.delete(seq);
    }
  }

  /** The readings kept without a receipt, in sequence order. */
  entries(): { seq: number; bytes: Uint8Array }[] {
    return [...this.live.entries()].sort((a, b) => a[0] - b[0]).map(([seq, b64]) => ({ seq, bytes: fromBase64(b64) }));
  }

  get size(): number {
    return this.live.size;
  }

  /** Keep a signed reading; resolves once it is written (publish only then). */
  add(seq: number, bytes: Uint8Array): Promise<void> {
    const b64 = toBase64(bytes);
    this.live.set(seq, b64);
    this.buf.push(`+${seq} ${b64}\n`);
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    void this.kick(this.flushMs);
    return p;
  }

  /** Forget a reading (receipt or drop-rejection); written lazily. */
  remove(seq: number): void {
    if (!this.live.delete(seq)) return;
    this.buf.push(`-${seq}\n`);
    if (!this.removeTimer && !this.running) {
      this.removeTimer = setTimeout(() => void this.kick(0).catch(() => undefined), REMOVE_FLUSH_MS);
      this.removeTimer.unref?.();
    }
  }

  /** Write everything buffered. */
  async flush(): Promise<void> {
    while (this.running || this.buf.length > 0 || this.rewrite) {
      const before = this.rewrite;
      await this.kick(0);
      if (before && this.rewrite) break; // the rewrite failed; the error went to the waiters
    }
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    const fh = this.fh;
    this.fh = null;
    await fh?.close().catch(() => undefined);
  }

  /** One writer at a time: each pass writes everything buffered so far in one write. */
  private kick(delayMs: number): Promise<void> {
    if (this.removeTimer) clearTimeout(this.removeTimer);
    this.removeTimer = null;
    this.running ??= (async () => {
      try {
        // Let readings signed in this event-loop turn (or within flushMs) join the batch.
        await new Promise((r) => (delayMs > 0 ? setTimeout(r, delayMs) : setImmediate(r)));
        while (this.buf.length > 0 || this.rewrite) {
          const lines = this.buf;
          const waiters = this.waiters;
          this.buf = [];
          this.waiters = [];
          try {
            if (this.rewrite || this.linesInFile + lines.length > 2 * this.live.size + COMPACT_SLACK) await this.compact();
            else await this.append(lines.join(''), lines.length);
            for (const w of waiters) w.resolve();
          } catch (err) {
            this.rewrite = true; // the file may hold part of the batch: rewrite it next time
            for (const w of waiters) w.reject(err);
            break;
          }
        }
      } finally {
        this.running = null;
      }
      if (this.buf.length > 0 && this.waiters.length > 0) void this.kick(this.flushMs);
    })();
    return this.running;
  }

  private async append(text: string, lines: number): Promise<void> {
    if (!this.fh) {
      await makeDirectoriesAsync(dirname(this.path));
      this.fh = await open(this.path, 'a');
    }
    this.writes++;
    await this.fh.appendFile(text);
    this.linesInFile += lines;
  }

  /** The live entries (a snapshot taken now; later changes stay buffered) to a temp file, renamed over the log. */
  private async compact(): Promise<void> {
    const snapshot = [...this.live.entries()].sort((a, b) => a[0] - b[0]);
    const text = snapshot.map(([seq, b64]) => `+${seq} ${b64}\n`).join('');
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
    await makeDirectoriesAsync(dirname(this.path));
    const tmp = `${this.path}.tmp`;
    this.writes++;
    await writeFile(tmp, text);
    await rename(tmp, this.path);
    this.linesInFile = snapshot.length;
    this.rewrite = false;
  }
}
