// The order of a block's writes, as the file system and LevelDB see it: what a power cut would keep is what was
// fsynced, so a SIGKILL test (the page cache survives it) cannot tell a missing fsync. A child process appends blocks
// to a real store with fs-journal.mjs preloaded, which journals every file operation of the ledger and every LevelDB
// batch; the journal is then checked against the durability rule: when a block's LevelDB batch is handed over, every
// byte and every name it depends on is on stable storage, and the batch itself is synced before its receipts leave.
//  - bytes: each file written (segment entries and leaf hashes) was fdatasync'ed after its last write;
//  - names: each file or directory created (a segment file, `entries/`, LevelDB's CURRENT, which its open renames into
//    place) had its directory fsynced after it was made. A name found when the process starts counts as not durable:
//    the process before may have been killed before it fsynced its directory (a start killed after making `entries/`).
//  - the batch is written with `sync: true`, and a block's receipts come after its batch completed;
//  - LevelDB's write-ahead logs: each new `NNNNNN.log` (made at its open, and whenever its memtable fills, in the write
//    of a block's batch) had the store's directory fsynced after it appeared and before the receipts of any block
//    written to it (LevelDB fdatasyncs the log's bytes, but fsyncs the directory only once the old memtable is flushed).
// `entries/committed` (ledger/committed-hint.ts) is advisory, written and never synced by design: not checked.
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HINT_NAME } from '../../ledger/committed-hint.js';
import { segmentName } from '../../ledger/entry-segments.js';

const root = resolve(__dirname, '../..');
// dist/ is built by the global setup (test/global-setup.ts).
const compiledLedger = join(root, 'dist', 'ledger', 'index.js');
const fixtures = join(__dirname, 'fixtures');
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type Event =
  | { t: 'start'; names: string[] }
  | { t: 'open'; path: string; create: boolean }
  | { t: 'mkdir'; path: string; made: string | null }
  | { t: 'rm' | 'unlink'; path: string }
  | { t: 'rename' | 'link'; path: string; to: string }
  | { t: 'write' | 'truncate' | 'sync' | 'datasync'; path: string }
  | { t: 'level-open'; path: string }
  | { t: 'level-log'; path: string }
  | { t: 'batch'; sync: boolean }
  | { t: 'batch-done' | 'end' | 'pause' }
  | { t: 'receipt'; height: number; entries: number }
  | { t: 'readdir'; path: string }
  | { t: 'stat'; path: string; mtimeNs: string };

type BackendOptions = { writeBufferBytes?: number; logListSettleMs?: number };

/** Run the writer on `dir` (blocks of `steps` entries, or pauses: `pause50`) and return its journal. */
async function runWriter(dir: string, steps: (number | `pause${number}`)[], segmentBundles = 1, opts: BackendOptions = {}): Promise<Event[]> {
  const journal = `${dir}.journal`;
  await rm(journal, { force: true });
  const child = spawn(
    process.execPath,
    ['--import', pathToFileURL(join(fixtures, 'fs-journal.mjs')).href, join(fixtures, 'durability-writer.mjs'), pathToFileURL(compiledLedger).href, dir, String(segmentBundles), steps.join(','), JSON.stringify(opts)],
    { env: { ...process.env, FS_JOURNAL: journal, LEVEL_FROM: compiledLedger }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((res) => child.on('exit', res));
  if (code !== 0) throw new Error(`writer exited ${code}: ${stderr}`);
  const text = await readFile(journal, 'utf8');
  await rm(journal, { force: true });
  return text.trim().split('\n').map((l) => JSON.parse(l) as Event);
}

/** Every break of the durability rule in the journal, in words (none: []). */
function durabilityBreaks(dir: string, events: Event[]): string[] {
  const hint = resolve(dir, 'entries', HINT_NAME);
  const dirty = new Set<string>(); // written since their last (fdata)sync
  const unsyncedNames = new Set<string>(); // made (or found at start) since their directory's last fsync
  const breaks: string[] = [];
  let batches = 0;
  let done = 0;
  let receipts = 0;
  const name = (p: string) => p !== hint && unsyncedNames.add(p);
  for (const e of events) {
    const path = 'path' in e ? resolve(e.path) : '';
    switch (e.t) {
      case 'start':
        for (const n of e.names) name(resolve(dir, n));
        break;
      case 'level-open':
        name(resolve(path, 'CURRENT')); // renamed into place by LevelDB's open (a new MANIFEST each open)
        break;
      case 'level-log':
        name(path);
        break;
      case 'open':
        if (e.create) name(path);
        break;
      case 'mkdir':
        if (e.made !== null) name(path);
        break;
      case 'rename':
      case 'link':
        name(resolve(e.to));
        break;
      case 'write':
      case 'truncate':
        if (path !== hint) dirty.add(path);
        break;
      case 'sync':
        for (const n of unsyncedNames) if (dirname(n) === path) unsyncedNames.delete(n);
        dirty.delete(path);
        break;
      case 'datasync':
        dirty.delete(path);
        break;
      case 'batch': {
        const at = `block ${batches} (batch ${batches + 1})`;
        if (!e.sync) breaks.push(`${at}: LevelDB batch written without sync`);
        for (const p of dirty) breaks.push(`${at}: ${p.slice(dir.length + 1)} written and not synced before the batch`);
        for (const n of unsyncedNames) breaks.push(`${at}: ${n.slice(dir.length + 1)} made (or found at start) and its directory not fsynced before the batch`);
        batches++;
        break;
      }
      case 'batch-done':
        done++;
        break;
      case 'receipt':
        receipts++;
        if (done !== batches || done < receipts) breaks.push(`receipts of block ${e.height} before its batch completed`);
        for (const n of unsyncedNames) breaks.push(`receipts of block ${e.height}: ${n.slice(dir.length + 1)} made and its directory not fsynced before them`);
        break;
    }
  }
  return breaks;
}

describe('durability order of a block: bytes and names synced before the batch, the batch before the receipts', () => {
  it('a new store, blocks spanning segment files; then the same store reopened over a crash\'s leftovers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-order-'));
    dirs.push(dir);
    // 256 entries per segment file: the 2nd and 3rd blocks each start a new one.
    const first = await runWriter(dir, [200, 200, 200]);
    expect(first.filter((e) => e.t === 'receipt')).toHaveLength(3);
    expect(durabilityBreaks(dir, first)).toEqual([]);
    // What a crash between a block's segment write and its batch leaves: bytes past the 600 committed entries (in
    // segment file 2), and a segment file of their own (3). The next block cuts them (truncated, removed).
    await appendFile(join(dir, 'entries', segmentName(2)), new Uint8Array(3000).fill(0xee));
    await appendFile(join(dir, 'entries', segmentName(2, 'leaves')), new Uint8Array(3000).fill(0xee));
    await writeFile(join(dir, 'entries', segmentName(3)), new Uint8Array(100).fill(0xee));
    await writeFile(join(dir, 'entries', segmentName(3, 'leaves')), new Uint8Array(64).fill(0xee));
    // Reopened: LevelDB's open renames a new CURRENT into place, and `entries/` and the segment files are found as a
    // previous process left them (which may have been killed before fsyncing their directory).
    const again = await runWriter(dir, [100, 300]);
    expect(again.filter((e) => e.t === 'receipt')).toHaveLength(2);
    expect(again.filter((e) => e.t === 'truncate' || e.t === 'rm').length).toBeGreaterThanOrEqual(2); // the leftovers were cut
    expect(durabilityBreaks(dir, again)).toEqual([]);
  }, 60_000);

  it('a small LevelDB write buffer: each new write-ahead log\'s name is fsynced before the receipts of the block written to it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-order-'));
    dirs.push(dir);
    // 64 KB (LevelDB's least): a memtable fills every few blocks of 200 entries, so new logs appear as blocks go in.
    const events = await runWriter(dir, Array.from({ length: 40 }, () => 200), 1, { writeBufferBytes: 64 << 10 });
    expect(events.filter((e) => e.t === 'receipt')).toHaveLength(40);
    const afterOpen = events.findIndex((e) => e.t === 'batch');
    expect(events.slice(afterOpen).filter((e) => e.t === 'level-log').length).toBeGreaterThanOrEqual(3);
    expect(durabilityBreaks(dir, events)).toEqual([]);
  }, 60_000);
});

/** What one block's look for a new write-ahead log did: the file operations on the store's directory after its batch. */
interface LogCheck {
  height: number;
  /** LevelDB made a new `.log` in the block's batch. */
  newLog: boolean;
  /** Stats of the store's directory (the mtime each saw), listings of it, fsyncs of it. */
  mtimes: string[];
  listings: number;
  dirSyncs: number;
}

/** Each block's check, from its batch's completion to its receipts (when the writer's answers wait for it). */
function logChecks(dir: string, events: Event[]): LogCheck[] {
  const checks: LogCheck[] = [];
  let newLog = false;
  let check: Omit<LogCheck, 'height'> | undefined;
  for (const e of events) {
    const onDir = 'path' in e && resolve(e.path) === resolve(dir);
    if (e.t === 'batch') newLog = false;
    else if (e.t === 'level-log') newLog = true;
    else if (e.t === 'batch-done') check = { newLog, mtimes: [], listings: 0, dirSyncs: 0 };
    else if (e.t === 'receipt' && check) {
      checks.push({ height: e.height, ...check });
      check = undefined;
    } else if (check && onDir && e.t === 'stat') check.mtimes.push(e.mtimeNs);
    else if (check && onDir && e.t === 'readdir') check.listings++;
    else if (check && onDir && e.t === 'sync') check.dirSyncs++;
  }
  return checks;
}

// The check after each synced write is one stat of the store's directory while its mtime is the one seen at the last
// listing, and that listing was taken when the mtime was older than the settle time (LevelBackendOptions
// logListSettleMs, 3 s by default): then no change can have kept the mtime. Shortened here, so that the stat-only path
// is reached without pauses of seconds (50-100 ms: above the file system's timestamp granularity, a few ms).
describe('the look for a new write-ahead log: a stat while the directory is unchanged since a settled listing', () => {
  it('a directory unchanged since a listing older than the settle time: each write\'s check is one stat, no listing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-order-'));
    dirs.push(dir);
    // The first block makes `entries/` (a change of the directory); then, past the settle time, blocks that make no
    // file (a 16 MB write buffer: no new log).
    const events = await runWriter(dir, [200, 'pause300', 200, 200, 200, 200, 200], 1, { logListSettleMs: 100 });
    const checks = logChecks(dir, events);
    expect(checks).toHaveLength(6);
    const [, afterPause, ...settled] = checks;
    // The first check after the pause lists at most once (when the listing before was too young to stand) ...
    expect(afterPause!.listings).toBeLessThanOrEqual(1);
    // ... and from then on, one stat per write, seeing the same mtime, and nothing else.
    for (const c of settled) expect(c).toEqual({ height: c.height, newLog: false, mtimes: afterPause!.mtimes.slice(-1), listings: 0, dirSyncs: 0 });
    expect(durabilityBreaks(dir, events)).toEqual([]);
  }, 60_000);

  it('a new log made while the checks are one stat: the changed mtime makes the check list, and fsync the directory before the receipts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-order-'));
    dirs.push(dir);
    // A 64 KB write buffer: a new log every few blocks. Each block comes past the settle time, so the listing before it
    // (if its check listed) stands, and its own check is one stat unless the directory changed.
    const steps = Array.from({ length: 24 }, () => ['pause150' as const, 200]).flat();
    const events = await runWriter(dir, steps, 1, { writeBufferBytes: 64 << 10, logListSettleMs: 50 });
    const checks = logChecks(dir, events);
    expect(checks).toHaveLength(24);
    expect(checks.filter((c) => c.listings === 0 && c.mtimes.length === 1).length).toBeGreaterThan(0); // stat only
    const withNewLog = checks.filter((c) => c.newLog);
    expect(withNewLog.length).toBeGreaterThanOrEqual(2);
    // Every block written to a new log: its check listed and fsynced the directory (before its receipts: the window).
    for (const c of withNewLog) expect({ height: c.height, listed: c.listings, synced: c.dirSyncs }).toEqual({ height: c.height, listed: 1, synced: 1 });
    // And at least one came from the stat-only state: its first stat (the mtime gate) saw a change, then it listed.
    expect(withNewLog.filter((c) => c.mtimes.length === 2).length).toBeGreaterThan(0);
    expect(durabilityBreaks(dir, events)).toEqual([]);
  }, 60_000);

  it('a listing taken while the directory\'s mtime is younger than the settle time does not stand: the next write lists again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-order-'));
    dirs.push(dir);
    // A settle time longer than the run: every listing is too young to stand, though the directory does not change.
    const events = await runWriter(dir, [200, 200, 200, 200, 200], 1, { logListSettleMs: 600_000 });
    const checks = logChecks(dir, events);
    expect(checks).toHaveLength(5);
    const [, ...later] = checks;
    // No gate stat (nothing stood), one listing each, the same mtime throughout (no change made them list).
    for (const c of later) expect(c).toEqual({ height: c.height, newLog: false, mtimes: checks[0]!.mtimes, listings: 1, dirSyncs: 0 });
    expect(durabilityBreaks(dir, events)).toEqual([]);
  }, 60_000);
});
