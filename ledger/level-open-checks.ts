/**
 * The checks LevelBackend runs on a store before it is used (split from ledger/level-backend.ts): none changes
 * anything on disk, each throws LedgerDamagedError naming what it found (or the error of a file or directory it could
 * not read, as it is: `ifMissing`). `refuseNewStoreOverLog` before LevelDB
 * creates a store where a log's files are; `checkSegmentFiles` (the gateway's start and storage-recovery reopen,
 * `ledger verify`) that the segment files hold every committed entry, and that the store is not older than them
 * (the committed-size hint, ledger/committed-hint.ts, or more entries past it than a block holds).
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Level } from 'level';
import { HINT_NAME, readCommittedHint } from './committed-hint.js';
import { decodeBundleIndex, type BundleIndex, type EntrySegments, type SegmentKind } from './entry-segments.js';
import { LedgerDamagedError } from './errors.js';
import { BUNDLE_WIDTH, bundleKey, META_KEY } from './keys.js';
import { plain } from './level-records.js';
import { HASH_SIZE } from '../protocol/merkle/index.js';

type Bytes = Uint8Array;

/**
 * A look at the directory (readdir, stat) that failed because what it looks at is not there (ENOENT; ENOTDIR: a file where a
 * directory of its path would be) finds `missing`; any other failure is thrown as it is. Found by review: every
 * failure counted as "not there", so an `entries/` directory the process may not read (EACCES, EPERM, EMFILE) or
 * cannot (EIO) passed for an empty one: a new store was made over a log's files, or an empty log verified "ok". Thrown,
 * a permissions or open-files failure is the start's DATA_DIR_UNUSABLE (gateway/start-refusal.ts) and `ledger
 * verify`'s exit 2 (no verdict).
 */
const ifMissing =
  <T>(missing: T) =>
  (err: NodeJS.ErrnoException): T => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return missing;
    throw err;
  };

/** What the checks read of an open LevelBackend. */
export interface OpenStore {
  db: Level<Bytes, Bytes>;
  segments: EntrySegments;
  /** Index of the last bundle stored (undefined: no entry yet). */
  last: BundleIndex | undefined;
  blockHeightFor(index: number): Promise<number | undefined>;
}

/** `entries/committed`, beside the segment files. */
export function hintPath(segments: EntrySegments): string {
  return join(dirname(segments.path(0, 'cbor')), HINT_NAME);
}

/**
 * Throws, naming the file, unless the entry segment files hold every committed entry: each segment's entries file
 * at least as long as its last committed entry's end, its leaves file a leaf hash for each of its entries. A
 * segment file missing or cut short (a partial restore, a copy whose segments are older than its store, a damaged
 * disk) was otherwise found only by the reads that reach it: the gateway started, served such entries as internal
 * errors and appended past the hole (found by review). One index read per segment file, then a stat of each.
 * `maxUncommitted`: also throws when the leaves files hold more entries past the committed ones than this. A crash
 * leaves one block's at most (written before the batch indexing them); more means a LevelDB store older than its
 * segment files (restored or copied apart from them, or its log's tail lost), whose first block would cut entries
 * that were receipted and log others at their indexes. Fewer are told from a crash's leftovers by the
 * committed-size hint (`entries/committed`, ledger/committed-hint.ts), checked whatever `maxUncommitted`: a valid
 * hint larger than the store's committed size means the same (a missing or invalid one is ignored).
 */
export async function checkSegmentFiles(s: OpenStore, opts: { maxUncommitted?: number } = {}): Promise<void> {
  const { last, segments: seg, db } = s;
  if (!last) {
    // The meta record is written (synced) when a ledger is first opened, before any segment file: a store without
    // it beside segment files lost its records (its tables and logs gone, CURRENT and MANIFEST left), and would
    // start the log again at entry 0 over them (found by review).
    const dir = dirname(seg.path(0, 'cbor'));
    const files = await readdir(dir).catch(ifMissing<string[]>([]));
    if (files.length > 0 && (await db.get(META_KEY)) === undefined) {
      throw new LedgerDamagedError(
        `ledger directory ${dirname(dir)}: its LevelDB store holds no ledger (no meta record: its table and log files lost?), but ${dir} holds entry segment files (${files.slice(0, 3).join(', ')}): ` +
          'a new log would start again at entry 0 and overwrite them. Restore the whole ledger directory from a backup, or move it away to start a new log',
      );
    }
    await checkCommittedHint(s, 0);
    return checkUncommitted(seg, 0, opts.maxUncommitted);
  }
  const perSegment = seg.entries / BUNDLE_WIDTH;
  const lastSegment = seg.segmentOf(last.bundle * BUNDLE_WIDTH);
  const entriesDir = dirname(seg.path(0, 'cbor'));
  const dirStat = await stat(entriesDir).catch(ifMissing(null));
  if (!dirStat?.isDirectory()) {
    throw new LedgerDamagedError(
      `ledger entries directory ${entriesDir} ${dirStat ? 'is not a directory' : 'is missing'}, but the store's index says it holds entries 0 to ${last.bundle * BUNDLE_WIDTH + last.ends.length - 1}: ` +
        'restore the whole ledger directory from one backup',
    );
  }
  for (let s = 0; s <= lastSegment; s++) {
    let x = last;
    if (s < lastSegment) {
      const b = (s + 1) * perSegment - 1;
      const v = await db.get(bundleKey(b));
      if (v === undefined) throw new LedgerDamagedError(`ledger store ${dirname(dirname(seg.path(s, 'cbor')))}: the index record of entry bundle ${b}, the last of segment file ${seg.path(s, 'cbor')}, is missing (the store is damaged)`);
      x = decodeBundleIndex(b, plain(v));
    }
    const count = (x.bundle - s * perSegment) * BUNDLE_WIDTH + x.ends.length;
    const need: [SegmentKind, number][] = [['cbor', x.base + (x.ends[x.ends.length - 1] ?? 0)], ['leaves', count * HASH_SIZE]];
    for (const [kind, bytes] of need) {
      const path = seg.path(s, kind);
      const st = await stat(path).catch(ifMissing(null));
      const have = st === null ? 'is missing' : !st.isFile() ? 'is not a file' : st.size < bytes ? `holds ${st.size} bytes` : null;
      if (have) {
        throw new LedgerDamagedError(
          `ledger entry segment file ${path} ${have}, but the store's index says it holds entries ${s * seg.entries} to ${s * seg.entries + count - 1} (${bytes} bytes): ` +
            'the segment files are incomplete, damaged or older than the LevelDB store beside them (a partial restore or copy?). ' +
            'Restore the whole ledger directory from one backup; started on it, the gateway would serve and extend a log missing entries it accepted',
        );
      }
    }
  }
  const committed = last.bundle * BUNDLE_WIDTH + last.ends.length;
  await checkCommittedHint(s, committed);
  return checkUncommitted(seg, committed, opts.maxUncommitted);
}

/** Throws when the committed-size hint is valid and larger than `committed`, the entries the store indexes. */
async function checkCommittedHint(s: OpenStore, committed: number): Promise<void> {
  const path = hintPath(s.segments);
  const hint = await readCommittedHint(path);
  if (!hint || hint.treeSize <= committed) return;
  const height = committed > 0 ? await s.blockHeightFor(committed - 1) : undefined;
  throw new LedgerDamagedError(
    `ledger directory ${dirname(dirname(path))}: ${path} says ${hint.treeSize} entries were committed (blocks 0 to ${hint.height}), but its LevelDB store holds ${committed}` +
      `${height === undefined ? '' : ` (blocks 0 to ${height})`}: the store is older than its segment files (restored or copied apart from them, or its log's tail lost), ` +
      `and the next block would overwrite ${hint.treeSize - committed} entries already logged and receipted. Restore the whole ledger directory from one backup`,
  );
}

/** Throws when the leaves files hold more than `max` entries past the first `committed` (checkSegmentFiles). */
async function checkUncommitted(seg: EntrySegments, committed: number, max: number | undefined): Promise<void> {
  if (max === undefined) return;
  const dir = dirname(seg.path(0, 'cbor'));
  const from = seg.segmentOf(committed);
  let past = 0;
  for (const name of await readdir(dir).catch(ifMissing<string[]>([]))) {
    const m = /^([0-9a-f]{16})\.leaves$/.exec(name);
    const s = m ? Number.parseInt(m[1]!, 16) : -1;
    if (s < from) continue;
    const entries = Math.floor((await stat(join(dir, name))).size / HASH_SIZE);
    past += s === from ? Math.max(0, entries - (committed - from * seg.entries)) : entries;
  }
  if (past > max) {
    throw new LedgerDamagedError(
      `ledger directory ${dirname(dir)}: its entry segment files hold ${past} entries past the ${committed} its LevelDB store indexes, more than one block holds (a crash leaves one block's at most): ` +
        'the store is older than its segment files (restored or copied apart from them, or its log cut short?), and the next block would overwrite entries already logged. Restore the whole ledger directory from one backup',
    );
  }
}

/**
 * LevelDB creates a store where it finds none (no CURRENT file): right for a new ledger, wrong where a log's files are
 * (its CURRENT lost or not restored, or the store's files gone and the entry segment files left): the new store
 * starts the log again at entry 0, and its first block cuts the segment files back, so every entry logged before
 * would be gone (found by review). Refused, naming what is there; nothing is created or changed. A store whose
 * creation was cut short before any record was written (a manifest, an empty write-ahead log) holds no log, and is
 * created again.
 */
export async function refuseNewStoreOverLog(dir: string): Promise<void> {
  if (await stat(join(dir, 'CURRENT')).then(() => true, ifMissing(false))) return;
  // No directory (a new ledger), or not one: LevelDB's open makes it, or says why it cannot.
  const names = await readdir(dir).catch(ifMissing<string[]>([]));
  const found: string[] = [];
  for (const name of names) {
    const isTable = /\.(ldb|sst)$/.test(name);
    const isWal = /^[0-9]+\.log$/.test(name);
    if (isTable || (isWal && (await stat(join(dir, name)).then((s) => s.size > 0, ifMissing(false))))) found.push(name);
  }
  // Sorted: the segment files (hex names) before `committed`, whatever order the file system lists them in.
  if (names.includes('entries')) for (const name of (await readdir(join(dir, 'entries')).catch(ifMissing<string[]>([]))).sort()) found.push(`entries/${name}`);
  if (found.length === 0) return;
  const shown = found.length > 3 ? `${found.slice(0, 3).join(', ')} and ${found.length - 3} more` : found.join(', ');
  throw new LedgerDamagedError(
    `ledger directory ${dir} holds a log's files (${shown}) but no LevelDB store (its CURRENT file is missing): a new store would start the log again at entry 0 and overwrite them. ` +
      'Restore the whole ledger directory from a backup, or move it away to start a new log',
  );
}
