/**
 * Pure helpers (no IO) of the LevelDB backend (ledger/level-backend.ts): where a block's entries go in the bundles
 * and segment files, the records it writes (bundle indexes, time clusters, the config record), and byte views.
 */
import type { BlockWrite } from './backend.js';
import type { BundleIndex, EntrySegments } from './entry-segments.js';
import { BUNDLE_WIDTH, P_ENTRY, prefixEnd, timeClusters } from './keys.js';

export const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
export const ENTRY_END = prefixEnd(new Uint8Array([P_ENTRY]));

export const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

/** The first entry not stored yet and its byte offset in its segment, from the last bundle's index. */
export function nextEntry(last: BundleIndex | undefined, segments: EntrySegments): { index: number; offset: number } {
  if (!last) return { index: 0, offset: 0 };
  const index = last.bundle * BUNDLE_WIDTH + last.ends.length;
  const same = segments.segmentOf(index) === segments.segmentOf(last.bundle * BUNDLE_WIDTH);
  return { index, offset: same ? last.base + (last.ends[last.ends.length - 1] ?? 0) : 0 };
}

/** The index records of the bundles a block touches (the last stored bundle continued when it is partial). */
export function bundleIndexes(b: BlockWrite, last: BundleIndex | undefined, offset: number, segmentEntries: number): BundleIndex[] {
  const out: BundleIndex[] = [];
  let cur = last && last.ends.length < BUNDLE_WIDTH ? { bundle: last.bundle, base: last.base, ends: last.ends.slice() } : undefined;
  for (let i = 0; i < b.ends.length; i++) {
    const index = b.firstIndex + i;
    if (index % segmentEntries === 0) offset = 0; // a new segment file
    const bundle = Math.floor(index / BUNDLE_WIDTH);
    if (cur?.bundle !== bundle) cur = { bundle, base: offset, ends: [] };
    if (out[out.length - 1] !== cur) out.push(cur);
    offset += b.ends[i]! - (i === 0 ? 0 : b.ends[i - 1]!);
    cur.ends.push(offset - cur.base);
  }
  return out;
}

/**
 * The block's time clusters (ledger/keys.ts): entries sorted by (receivedAtMs, index), cut whenever a cluster
 * would span more than TIME_WINDOW_MS. A block whose clock ran normally is one cluster.
 */
export function timeClustersOf(b: BlockWrite): [Uint8Array, Uint8Array][] {
  const n = b.meta.length;
  const ms = new Float64Array(n);
  let ascending = true;
  for (let i = 0; i < n; i++) {
    ms[i] = b.meta[i]!.receivedAtMs ?? b.timeMs;
    if (i > 0 && ms[i]! < ms[i - 1]!) ascending = false;
  }
  return timeClusters(b.firstIndex, ms, ascending);
}
