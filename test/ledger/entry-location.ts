// Where an entry's bytes lie in a LevelDB ledger's segment files (for the tests that flip them).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { decodeBundleIndex, segmentName } from '../../ledger/entry-segments.js';
import { BUNDLE_WIDTH, bundleKey, checkpointKey, CONFIG_KEY, headerKey } from '../../ledger/keys.js';

export async function entryLocation(dir: string, index: number): Promise<{ file: string; start: number; end: number }> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const bundle = Math.floor(index / BUNDLE_WIDTH);
    const v = await db.get(bundleKey(bundle));
    if (!v) throw new Error(`entry ${index} is not stored`);
    const x = decodeBundleIndex(bundle, v);
    const k = index % BUNDLE_WIDTH;
    const config = (await db.get(CONFIG_KEY))!;
    const perSegment = new DataView(config.buffer, config.byteOffset, 4).getUint32(0) * BUNDLE_WIDTH;
    const file = join(dir, 'entries', segmentName(Math.floor(index / perSegment)));
    return { file, start: x.base + (k === 0 ? 0 : x.ends[k - 1]!), end: x.base + x.ends[k]! };
  } finally {
    await db.close();
  }
}

/** Where entry `index`'s leaf hash lies: its segment's leaves file and the hash's first byte. */
export async function leafLocation(dir: string, index: number): Promise<{ file: string; at: number }> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const config = (await db.get(CONFIG_KEY))!;
    const perSegment = new DataView(config.buffer, config.byteOffset, 4).getUint32(0) * BUNDLE_WIDTH;
    const segment = Math.floor(index / perSegment);
    return { file: join(dir, 'entries', segmentName(segment, 'leaves')), at: (index - segment * perSegment) * 32 };
  } finally {
    await db.close();
  }
}

/** Flip the low bit of one byte of a file. */
export async function flipFileByte(file: string, at: number): Promise<void> {
  const buf = await readFile(file);
  buf[at]! ^= 0x01;
  await writeFile(file, buf);
}

/**
 * Rewrite the checkpoint note stored at `treeSize` with `edit` (the store closed): damage of the note's bytes that
 * LevelDB's own checksums do not see (a bad restore, a byte changed before it was written).
 */
export async function editStoredCheckpoint(dir: string, treeSize: number, edit: (note: string) => string): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const v = await db.get(checkpointKey(treeSize));
    if (!v) throw new Error(`no checkpoint stored at tree size ${treeSize}`);
    await db.put(checkpointKey(treeSize), new TextEncoder().encode(edit(new TextDecoder().decode(v))));
  } finally {
    await db.close();
  }
}

/** Rewrites the block header stored at `height` (in the ledger's LevelDB, the gateway stopped). */
export async function editStoredHeader(dir: string, height: number, edit: (header: Uint8Array) => Uint8Array): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const v = await db.get(headerKey(height));
    if (!v) throw new Error(`no header stored at height ${height}`);
    await db.put(headerKey(height), edit(v));
  } finally {
    await db.close();
  }
}

/** A note with one base64 character of its (last) signature changed: the signature no longer verifies. */
export function flipSignatureChar(note: string): string {
  const at = note.length - 10; // inside the last signature line's base64, clear of its padding and newline
  return note.slice(0, at) + (note[at] === 'A' ? 'B' : 'A') + note.slice(at + 1);
}
