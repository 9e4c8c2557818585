/**
 * LevelDB key layout: one prefix byte, then big-endian fixed-width fields so that byte order is numeric order.
 * Few, packed records per block (a LevelDB batch costs per record, not per byte):
 *   e|u64 bundle              -> where entries bundle*256 .. +255 lie in their segment file (the bytes are not in
 *                                LevelDB: ledger/entry-segments.ts); a partial bundle's record is rewritten as it grows
 *   n|u8 level|u64 tile       -> tile: hashes of perfect subtrees (level, tile*256 .. +255), 32 bytes each; tile
 *                                levels >= 1 only (tree levels 8, 16, ..): the leaf hashes are in segment files
 *   h|u64 height              -> block header bytes
 *   b|u64 lastIndex           -> u64 height                  (blockForIndex: first key >= index)
 *   c|u64 treeSize            -> checkpoint note (UTF-8)
 *   D|u64 height              -> device rows of a block not yet merged into runs (ledger/device-index.ts)
 *   d|u8 len|deviceId|u64 seq -> device run: rows (seq, index, receivedAtMs) of one device, keyed by its last seq
 *   l|u8 len|deviceId         -> u64 the device's highest seq in its runs
 *   t|u64 minMs|u64 minIndex  -> time cluster: the entries of one block whose receivedAtMs lie in
 *                                [minMs, minMs + TIME_WINDOW_MS], rows (u32 ms - minMs, u32 index - minIndex)
 *                                sorted by (ms, index); usually one cluster per block
 *   y|u8 type|u64 index       -> (empty)                     (registry events: every type but readings)
 *   k|u8 len|deviceId         -> u64 iat of the device's last accepted MQTT connect token (beside the log, not in it)
 *   s                         -> state record, m -> meta record, g -> store config (u32 bundles per segment file)
 */
export const TILE_WIDTH = 256;
/** Tree levels per tile level (C2SP tlog-tiles' tile height): tile level k stores tree level k * TILE_HEIGHT. */
export const TILE_HEIGHT = 8;
/** Entries per entry bundle (as tlog-tiles entry bundles). */
export const BUNDLE_WIDTH = 256;
/** Widest span of receivedAtMs in one time cluster: a time query scans from (fromMs - this). */
export const TIME_WINDOW_MS = 60_000;

export const P_ENTRY = 0x65, P_NODE = 0x6e, P_HEADER = 0x68, P_BLOCK_END = 0x62, P_CHECKPOINT = 0x63;
export const P_DEVICE = 0x64, P_TIME = 0x74, P_TYPE = 0x79, P_STATE = 0x73, P_META = 0x6d;
export const P_DEVICE_ROWS = 0x44, P_DEVICE_HEAD = 0x6c, P_TOKEN_IAT = 0x6b;

const TWO32 = 2 ** 32;

// Byte arithmetic, no DataView per call (this runs several times per appended entry).
/**
 * Writes `n` as a big-endian u64. Only non-negative safe integers are encodable: anything else (2^64 and above,
 * 1e300, Infinity, NaN, fractions, negatives) would wrap or truncate into another key, so it throws. Inputs from
 * outside are validated before they reach a key (the HTTP schemas cap every integer at MAX_SAFE_INTEGER): a throw
 * here is a programming error.
 */
export function writeU64(buf: Uint8Array, offset: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`u64 key field must be a non-negative safe integer, got ${n}`);
  const hi = Math.floor(n / TWO32);
  const lo = n - hi * TWO32;
  buf[offset] = hi >>> 24; buf[offset + 1] = (hi >>> 16) & 0xff; buf[offset + 2] = (hi >>> 8) & 0xff; buf[offset + 3] = hi & 0xff;
  buf[offset + 4] = lo >>> 24; buf[offset + 5] = (lo >>> 16) & 0xff; buf[offset + 6] = (lo >>> 8) & 0xff; buf[offset + 7] = lo & 0xff;
}

export function readU64(buf: Uint8Array, offset = 0): number {
  const hi = ((buf[offset]! << 24) >>> 0) + (buf[offset + 1]! << 16) + (buf[offset + 2]! << 8) + buf[offset + 3]!;
  const lo = ((buf[offset + 4]! << 24) >>> 0) + (buf[offset + 5]! << 16) + (buf[offset + 6]! << 8) + buf[offset + 7]!;
  return hi * TWO32 + lo;
}

export function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  writeU64(b, 0, n);
  return b;
}

function prefixed(prefix: number, ...u64s: number[]): Uint8Array {
  const b = new Uint8Array(1 + 8 * u64s.length);
  b[0] = prefix;
  u64s.forEach((n, i) => writeU64(b, 1 + 8 * i, n));
  return b;
}

/** Key of the index record of entry bundle `bundle` (entries bundle * BUNDLE_WIDTH ..). */
export const bundleKey = (bundle: number): Uint8Array => prefixed(P_ENTRY, bundle);
export const headerKey = (height: number): Uint8Array => prefixed(P_HEADER, height);
export const blockEndKey = (lastIndex: number): Uint8Array => prefixed(P_BLOCK_END, lastIndex);
export const checkpointKey = (treeSize: number): Uint8Array => prefixed(P_CHECKPOINT, treeSize);
export const timeKey = (minMs: number, minIndex: number): Uint8Array => prefixed(P_TIME, minMs, minIndex);
export const blockRowsKey = (height: number): Uint8Array => prefixed(P_DEVICE_ROWS, height);
export const STATE_KEY = new Uint8Array([P_STATE]);
export const CONFIG_KEY = new Uint8Array([0x67]);
export const META_KEY = new Uint8Array([P_META]);

export function tileKey(level: number, tile: number): Uint8Array {
  const b = new Uint8Array(10);
  b[0] = P_NODE;
  b[1] = level;
  writeU64(b, 2, tile);
  return b;
}

export function typeKey(type: number, index: number): Uint8Array {
  const b = new Uint8Array(10);
  b[0] = P_TYPE;
  b[1] = type;
  writeU64(b, 2, index);
  return b;
}

const enc = new TextEncoder();

/** d|len|deviceId: the prefix of one device's keys (l|len|deviceId with P_DEVICE_HEAD). */
export function devicePrefix(deviceId: string, prefix = P_DEVICE): Uint8Array {
  const id = enc.encode(deviceId);
  if (id.length === 0 || id.length > 255) throw new RangeError('deviceId must be 1..255 bytes');
  const b = new Uint8Array(2 + id.length);
  b[0] = prefix;
  b[1] = id.length;
  b.set(id, 2);
  return b;
}

const dec = new TextDecoder();

/** The device id of a key that starts with a device prefix (any of the `x|len|deviceId` keys above). */
export const deviceIdOfKey = (key: Uint8Array): string => dec.decode(key.subarray(2, 2 + key[1]!));

export const deviceHeadKey = (deviceId: string): Uint8Array => devicePrefix(deviceId, P_DEVICE_HEAD);
export const tokenIatKey = (deviceId: string): Uint8Array => devicePrefix(deviceId, P_TOKEN_IAT);

// Device prefixes are built once per device id (a bounded cache: it is cleared when full).
const prefixCache = new Map<string, Uint8Array>();

export function deviceKey(deviceId: string, seq: number): Uint8Array {
  let p = prefixCache.get(deviceId);
  if (!p) {
    p = devicePrefix(deviceId);
    if (prefixCache.size >= 65_536) prefixCache.clear();
    prefixCache.set(deviceId, p);
  }
  const b = new Uint8Array(p.length + 8);
  b.set(p);
  writeU64(b, p.length, seq);
  return b;
}

/** The first key after every key starting with `prefix` (for lt bounds). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const b = new Uint8Array(prefix.length + 9).fill(0xff);
  b.set(prefix);
  return b;
}

/**
 * The time cluster records of a block's entries firstIndex.. with receivedAtMs `ms` (`ascending`: no entry's is below
 * the one before; `ledger verify` recomputes them with this too).
 */
export function timeClusters(firstIndex: number, ms: Float64Array, ascending = !ms.some((x, i) => i > 0 && x < ms[i - 1]!)): [Uint8Array, Uint8Array][] {
  const n = ms.length;
  let order: number[] | undefined;
  if (!ascending) order = Array.from({ length: n }, (_, j) => j).sort((x, y) => ms[x]! - ms[y]! || x - y);
  const at = (k: number): number => (order ? order[k]! : k); // position in the block of the k-th by time
  const out: [Uint8Array, Uint8Array][] = [];
  for (let start = 0; start < n; ) {
    const minMs = ms[at(start)]!;
    let end = start + 1;
    let minPos = at(start);
    while (end < n && ms[at(end)]! - minMs <= TIME_WINDOW_MS) {
      minPos = Math.min(minPos, at(end));
      end++;
    }
    const v = new Uint8Array(8 * (end - start));
    const dv = new DataView(v.buffer);
    for (let k = start; k < end; k++) {
      dv.setUint32(8 * (k - start), ms[at(k)]! - minMs);
      dv.setUint32(8 * (k - start) + 4, at(k) - minPos);
    }
    out.push([timeKey(minMs, firstIndex + minPos), v]);
    start = end;
  }
  return out;
}
