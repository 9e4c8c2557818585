/**
 * Entry bytes in append-only segment files beside the LevelDB store (as Kafka log segments, or Tessera's
 * POSIX entry bundles): LevelDB writes every value again and again (its log, level 0, each compaction), which
 * measured as most of the append cost; a segment file is written once. LevelDB keeps the index (ledger/keys.ts):
 *   e|u64 bundle -> u64 byte offset of the bundle's first entry in its segment | count x u32 entry end (relative)
 * Files: <dir>/entries/<segment as 16 hex digits>.cbor, each a CBOR sequence (RFC 8742) of the log entries
 * segment * S .. + S - 1, S = bundles per segment * 256 (bundle-aligned: a bundle never spans two files; S is
 * fixed when the store is created and kept in its config record), and beside it `.leaves`: their leaf hashes,
 * 32 bytes each at (index - segment * S) * 32 (the level-0 tiles, kept out of LevelDB as well; `ledger verify`
 * compares them with the hashes it recomputes, which names a tampered entry). Beside them, `committed`: the committed
 * tree size, rewritten after each block commits (ledger/committed-hint.ts); not a segment, so never cut here.
 * Durability order: a block's bytes and leaf hashes are written and fdatasync'ed before the LevelDB batch holding their index
 * commits, so a committed block never points past what is on disk. Bytes after the last committed entry (a crash
 * between the two) are never read; the first block written after opening cuts them off (opening itself, as
 * `ledger verify` does, changes nothing).
 */
import { constants } from 'node:fs';
import { open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirectoriesAsync } from '../node-fs/make-directories.js';
import { fail } from '../protocol/errors.js';
import { HASH_SIZE } from '../protocol/merkle/index.js';
import { BUNDLE_WIDTH, readU64, writeU64 } from './keys.js';

/** Default bundles per segment file: 4096 x 256 = 1,048,576 entries (about 250 MB of 180-byte readings). */
export const SEGMENT_BUNDLES = 4096;

/** The index of one bundle: where its entries lie in their segment. */
export interface BundleIndex {
  bundle: number;
  /** Byte offset of the bundle's first entry in its segment. */
  base: number;
  /** End of each entry, relative to `base`. */
  ends: number[];
}

export function encodeBundleIndex(x: BundleIndex): Uint8Array {
  const out = new Uint8Array(8 + 4 * x.ends.length);
  writeU64(out, 0, x.base);
  const dv = new DataView(out.buffer);
  x.ends.forEach((e, k) => dv.setUint32(8 + 4 * k, e));
  return out;
}

/** Throws on a malformed record (ascending ends, at most one bundle's worth). */
export function decodeBundleIndex(bundle: number, v: Uint8Array): BundleIndex {
  const n = (v.length - 8) / 4;
  if (v.length < 12 || !Number.isInteger(n) || n > BUNDLE_WIDTH) throw new RangeError(`entry index of bundle ${bundle} is malformed`);
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const ends: number[] = new Array(n);
  for (let k = 0; k < n; k++) {
    ends[k] = dv.getUint32(8 + 4 * k);
    if (ends[k]! < (k === 0 ? 0 : ends[k - 1]!)) throw new RangeError(`entry index of bundle ${bundle} is malformed`);
  }
  return { bundle, base: readU64(v, 0), ends };
}

/** fsync a directory (so a file created in it survives a crash); Windows cannot open directories, and needs not. */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export type SegmentKind = 'cbor' | 'leaves';
/** `<segment as 16 hex digits>.cbor` (the entries) or `.leaves` (their leaf hashes, 32 bytes each, in order). */
export const segmentName = (segment: number, kind: SegmentKind = 'cbor'): string => `${segment.toString(16).padStart(16, '0')}.${kind}`;
const NAME = /^([0-9a-f]{16})\.(cbor|leaves)$/;
const MAX_READ_HANDLES = 32;

interface Reader {
  fh: Promise<FileHandle>;
  busy: number;
  evicted: boolean;
}
const closeReader = (r: Reader): void => void r.fh.then((h) => h.close()).catch(() => undefined);

export class EntrySegments {
  /** Entries per segment file. */
  readonly entries: number;
  readonly #dir: string;
  #writer: { segment: number; cbor: FileHandle; leaves: FileHandle } | undefined;
  readonly #readers = new Map<string, Reader>();
  #closed = false;

  segmentOf(index: number): number {
    return Math.floor(index / this.entries);
  }

  /** The segments in `<dir>/entries` (created on the first write), of `bundles` bundles each. */
  constructor(dir: string, bundles: number) {
    this.#dir = join(dir, 'entries');
    this.entries = bundles * BUNDLE_WIDTH;
  }

  /**
   * Cut every segment back to the committed entries: `next` is the index of the first entry not committed,
   * whose bytes go at byte `offset` of its segment; later bytes, leaf hashes and segments are removed.
   */
  async cut(next: number, offset: number): Promise<void> {
    const keep = this.segmentOf(next);
    const keepLeaves = (next - keep * this.entries) * HASH_SIZE;
    // Handles to files about to be removed or truncated go first: a cached writer of a removed file would write
    // the next block into an unlinked inode (datasynced, indexed, and gone), a cached reader would read it.
    await this.#closeWriter();
    this.#dropReaders(keep);
    if ((await makeDirectoriesAsync(this.#dir)) !== undefined) await syncDir(join(this.#dir, '..'));
    for (const name of await readdir(this.#dir)) {
      const m = NAME.exec(name);
      const seg = m ? Number.parseInt(m[1]!, 16) : -1;
      if (seg < keep) continue;
      const size = m![2] === 'cbor' ? offset : keepLeaves;
      if (seg > keep || size === 0) await rm(join(this.#dir, name), { force: true });
      else {
        const fh = await open(join(this.#dir, name), 'r+');
        try {
          if ((await fh.stat()).size > size) await fh.truncate(size);
        } finally {
          await fh.close();
        }
      }
    }
  }

  /**
   * Write entries first .. first + count - 1: their bytes `data` (back to back, `ends` giving each one's end) at
   * byte `offset` of the segment of `first`, and their leaf hashes `leaves` (32 bytes each) at their place in the
   * segment's leaves file, splitting at segment ends. Durable when `sync`.
   */
  async write(first: number, data: Uint8Array, ends: ArrayLike<number>, leaves: Uint8Array, offset: number, sync: boolean): Promise<void> {
    const n = ends.length;
    for (let i = 0; i < n; ) {
      const segment = this.segmentOf(first + i);
      const take = Math.min(n - i, (segment + 1) * this.entries - (first + i));
      const start = i === 0 ? 0 : ends[i - 1]!;
      const w = await this.#writerFor(segment);
      await Promise.all([
        writeAll(w.cbor, data.subarray(start, ends[i + take - 1]!), i === 0 ? offset : 0),
        writeAll(w.leaves, leaves.subarray(i * HASH_SIZE, (i + take) * HASH_SIZE), (first + i - segment * this.entries) * HASH_SIZE),
      ]);
      if (sync) await Promise.all([w.cbor.datasync(), w.leaves.datasync()]);
      i += take;
    }
  }

  async #writerFor(segment: number): Promise<{ segment: number; cbor: FileHandle; leaves: FileHandle }> {
    if (this.#writer?.segment === segment) return this.#writer;
    await this.#closeWriter();
    // Created if missing; not O_APPEND (which would ignore the write positions).
    const flags = constants.O_RDWR | constants.O_CREAT;
    const cbor = await open(join(this.#dir, segmentName(segment, 'cbor')), flags);
    const leaves = await open(join(this.#dir, segmentName(segment, 'leaves')), flags).catch(async (err: unknown) => {
      await cbor.close();
      throw err;
    });
    await syncDir(this.#dir); // the new files' directory entries must be durable too
    this.#writer = { segment, cbor, leaves };
    return this.#writer;
  }

  /** A segment file's path (it may not exist). */
  path(segment: number, kind: SegmentKind): string {
    return join(this.#dir, segmentName(segment, kind));
  }

  /** Bytes [from, to) of a segment's entries file. */
  read(segment: number, from: number, to: number): Promise<Uint8Array> {
    return this.#read(segment, 'cbor', from, to);
  }

  /** Leaf hashes of entries [first, first + count) (all in one segment), 32 bytes each. */
  readLeaves(first: number, count: number): Promise<Uint8Array> {
    const segment = this.segmentOf(first);
    const at = (first - segment * this.entries) * HASH_SIZE;
    return this.#read(segment, 'leaves', at, at + count * HASH_SIZE);
  }

  async #read(segment: number, kind: SegmentKind, from: number, to: number): Promise<Uint8Array> {
    const r = this.#reader(segment, kind);
    r.busy++;
    try {
      const fh = await r.fh;
      const out = new Uint8Array(to - from);
      let at = 0;
      while (at < out.length) {
        const { bytesRead } = await fh.read(out, at, out.length - at, from + at);
        if (bytesRead === 0) throw new RangeError(`segment ${segmentName(segment, kind)} ends before byte ${from + at}`);
        at += bytesRead;
      }
      return out;
    } finally {
      if (--r.busy === 0 && r.evicted) closeReader(r);
    }
  }

  /** A read handle per file, at most MAX_READ_HANDLES open (the oldest is closed once its reads are done). */
  #reader(segment: number, kind: SegmentKind): Reader {
    // A read that reaches here after close() would open a handle no one closes (found by review: a bundle request
    // straddling a storage recovery's reopen leaked one).
    if (this.#closed) fail('STORAGE_UNAVAILABLE', 'the store was closed while this read ran (it is being reopened): ask again');
    const name = segmentName(segment, kind);
    let r = this.#readers.get(name);
    if (!r) {
      if (this.#readers.size >= MAX_READ_HANDLES) {
        const [old, oldest] = this.#readers.entries().next().value as [string, Reader];
        this.#readers.delete(old);
        oldest.evicted = true;
        if (oldest.busy === 0) closeReader(oldest);
      }
      r = { fh: open(join(this.#dir, name), 'r'), busy: 0, evicted: false };
      const mine = r;
      r.fh.catch(() => this.#readers.get(name) === mine && this.#readers.delete(name));
      this.#readers.set(name, r);
    }
    return r;
  }

  async #closeWriter(): Promise<void> {
    const w = this.#writer;
    this.#writer = undefined;
    if (!w) return;
    const closed = await Promise.allSettled([w.cbor.close(), w.leaves.close()]);
    for (const c of closed) if (c.status === 'rejected') throw c.reason;
  }

  /** Forget the read handles of segments `from` on (closed once their reads are done), so they are opened again. */
  #dropReaders(from: number): void {
    for (const [name, r] of this.#readers) {
      const m = NAME.exec(name);
      if (m && Number.parseInt(m[1]!, 16) < from) continue;
      this.#readers.delete(name);
      r.evicted = true;
      if (r.busy === 0) closeReader(r);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const readers = [...this.#readers.values()];
    this.#readers.clear();
    // A handle with reads in flight is closed by its last read (#read), not under it.
    for (const r of readers) r.evicted = true;
    await Promise.all(readers.filter((r) => r.busy === 0).map((r) => r.fh.then((h) => h.close()).catch(() => undefined)));
    await this.#closeWriter();
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let at = 0; at < bytes.length; ) at += (await fh.write(bytes, at, bytes.length - at, position + at)).bytesWritten;
}
