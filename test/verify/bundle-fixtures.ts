/**
 * Proof bundles made from protocol functions alone: a root -> agency -> device chain (test/protocol/fixtures.ts), a
 * small log of the given entries, a block header and a checkpoint signed by a key the trust material holds. Tests
 * tamper with one field and check that exactly the check under test fails with its code.
 */
import {
  ENTRY_READING, encodeLogEntry, parseTrust, signReading, toBase64, type ProofBundle, type ReadingClaims, type TrustMaterial, type Verdict,
} from '../../protocol/index.js';
import { encodeBlockHeader } from '../../protocol/bundle.js';
import { ed25519NoteSigner, formatVerifierKey, signCheckpoint, type NoteSigner } from '../../protocol/checkpoint.js';
import { referencePath, referenceRoot } from '../../protocol/merkle/reference.js';
import { blockExtension } from '../../protocol/verify-bundle.js';
import { NOW, makeChain, seedKey, sensorClaims } from '../protocol/fixtures.js';

export const ORIGIN = 'tamper.example/log';
export const RECEIVED_MS = NOW * 1000 + 100;
export const BLOCK_MS = NOW * 1000 + 500; // block time NOW (seconds)
export const CP = ed25519NoteSigner(ORIGIN, seedKey('checkpoint'));
export const vkey = (s: NoteSigner & { publicKey: Uint8Array }) => formatVerifierKey(s.name, s.publicKey);
export const c = await makeChain();

export const fails = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);
export const trustWith = (checkpointKeys: unknown[] = [vkey(CP)], extra: object = { origin: ORIGIN }): TrustMaterial =>
  parseTrust({ roots: [{ certificate: toBase64(c.rootCert.bytes) }], checkpointKeys, ...extra });

/** A reading's log entry; `claims` overrides the signed claims (e.g. iat), `receivedAtMs` the log time. */
export async function readingEntry(
  o: { index?: number; seq?: number; certRef?: Uint8Array; payload?: Uint8Array; claims?: Partial<ReadingClaims>; receivedAtMs?: number } = {},
): Promise<Uint8Array> {
  const payload = o.payload ?? (await signReading(c.device, sensorClaims(c, o.seq ?? 1, o.claims ?? {})));
  return encodeLogEntry({ type: ENTRY_READING, index: o.index ?? 0, receivedAtMs: o.receivedAtMs ?? RECEIVED_MS, payload, certRef: o.certRef ?? c.deviceCert.certRef });
}

export interface Spec {
  entries: Uint8Array[]; // the log's leaves
  index?: number; // the bundle's entry (default 0)
  treeSize?: number; // default: all entries
  block?: { first: number; last: number; root?: Uint8Array; timeMs?: number }; // default: one block holding the whole tree, sealed at BLOCK_MS
  cp?: { size?: number; origin?: string; signer?: NoteSigner; bind?: boolean }; // bind: default when the block ends the tree
  certificates?: Uint8Array[];
  revocations?: Uint8Array[];
}

export async function make(s: Spec): Promise<ProofBundle> {
  const index = s.index ?? 0, treeSize = s.treeSize ?? s.entries.length, leaves = s.entries.slice(0, treeSize);
  const first = s.block?.first ?? 0, last = s.block?.last ?? treeSize - 1;
  const blockHeader = encodeBlockHeader({
    height: 0, prevHash: new Uint8Array(32), firstIndex: first, lastIndex: last, treeSize: last + 1, root: s.block?.root ?? referenceRoot(s.entries.slice(0, last + 1)), timeMs: s.block?.timeMs ?? BLOCK_MS,
  });
  const bind = s.cp?.bind ?? last + 1 === treeSize;
  const checkpoint = await signCheckpoint(
    { origin: s.cp?.origin ?? ORIGIN, size: s.cp?.size ?? treeSize, root: referenceRoot(leaves), extensions: bind ? [blockExtension(0, blockHeader)] : [] }, s.cp?.signer ?? CP,
  );
  return {
    entry: s.entries[index]!, index, treeSize, inclusionProof: referencePath(index, leaves), checkpoint, blockHeader,
    certificates: s.certificates ?? [c.deviceCert.bytes, c.agencyCert.bytes], revocations: s.revocations ?? [],
  };
}

/** The certificate's bytes with one bit of its signature flipped (the signature is the last 64 bytes). */
export function badSignature(bytes: Uint8Array): Uint8Array {
  const t = bytes.slice();
  t[t.length - 64]! ^= 1;
  return t;
}
