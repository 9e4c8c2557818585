/**
 * The crash test's record of every signed checkpoint the gateway handed out (in each receipt a device got, in the
 * GET /v1/log and /v1/checkpoints/latest answers the test read) and of the latest one found on disk after each kill,
 * checked as an auditor relies on them:
 *   - each verifies with the checkpoint key the gateway published at its first start, for its origin;
 *   - a receipt's entry index is below its checkpoint's size;
 *   - no split view: each is of a prefix of the log left on disk (size at most the log's, root the root of the first
 *     `size` entries, folded by the protocol's CompactRange from the entries' leaf hashes), and a consistency proof
 *     from it to the latest checkpoint on disk, made from the stored tree as the ledger makes its proofs, verifies
 *     (protocol verifyConsistency), and the checkpoint the ledger stores at that size is that very note (every block's is
 *     kept: one signed again for the size, over the same root but another block header, would be a split view too);
 *   - never backwards: a restarted gateway's latest checkpoint is as large as any handed out before, same key.
 * A checkpoint proven consistent with the one on disk at some kill is not proven again: that one is recorded too and
 * is proven against the next kill's (consistency is transitive), so each check makes proofs only for what is new.
 */
import { expect } from 'vitest';
import { nodeEd25519Verify } from '../../ledger/signer.js';
import { toHex } from '../../protocol/bytes.js';
import { openCheckpoint, parseVerifierKey, type Checkpoint, type NoteVerifier } from '../../protocol/checkpoint.js';
import { CompactRange, verifyConsistency } from '../../protocol/merkle/index.js';
import type { FleetRecorder, GatewayProcess, LedgerContents } from './harness.js';

/** What GET /v1/log answers (the fields checked here). */
export interface LogAnswer {
  origin: string;
  size: number;
  verifierKey: string;
  checkpoint: string | null;
}

export async function getLog(httpUrl: string): Promise<LogAnswer> {
  return (await (await fetch(`${httpUrl}/v1/log`)).json()) as LogAnswer;
}

export class CheckpointWatch {
  readonly #trusted: NoteVerifier[];
  /** note -> the checkpoint (opened once, with the key) and where it was first seen (for failure messages). */
  readonly #seen = new Map<string, { cp: Checkpoint; from: string }>();
  /** Notes proven consistent with the latest checkpoint on disk at some kill. */
  readonly #proven = new Set<string>();

  constructor(readonly verifierKey: string, readonly origin: string) {
    this.#trusted = [parseVerifierKey(verifierKey)];
  }

  /** A checkpoint the gateway handed out (or left on disk): it must verify with the gateway's key. */
  saw(note: string, from: string): Checkpoint {
    const known = this.#seen.get(note);
    if (known) return known.cp;
    let cp: Checkpoint | undefined;
    let code: unknown;
    try {
      cp = openCheckpoint(note, this.#trusted, { origin: this.origin, verify: nodeEd25519Verify });
    } catch (err) {
      code = (err as { code?: unknown }).code ?? err;
    }
    expect(code, `${from}: its checkpoint does not verify with the gateway's checkpoint key`).toBeUndefined();
    this.#seen.set(note, { cp: cp!, from });
    return cp!;
  }

  /** Every receipt's checkpoint verifies, and covers the receipt's entry. */
  #receipts(fleet: FleetRecorder): void {
    for (const [id, bySeq] of fleet.receipts) {
      for (const [seq, list] of bySeq) {
        for (const r of list) {
          const cp = this.saw(r.checkpoint, `device ${id} seq ${seq}'s receipt`);
          expect(r.index, `device ${id} seq ${seq}: receipt for entry ${r.index} with a checkpoint of size ${cp.size}`).toBeLessThan(cp.size);
        }
      }
    }
  }

  /** The largest checkpoint handed out so far (receipts included). */
  maxSize(fleet: FleetRecorder): number {
    this.#receipts(fleet);
    let max = 0;
    for (const { cp } of this.#seen.values()) max = Math.max(max, cp.size);
    return max;
  }

  /** The tree sizes readLedger is to make consistency proofs from (of every checkpoint not proven yet). */
  proofSizes(fleet: FleetRecorder): number[] {
    this.#receipts(fleet);
    const sizes = new Set<number>();
    for (const [note, { cp }] of this.#seen) if (!this.#proven.has(note)) sizes.add(cp.size);
    return [...sizes];
  }

  /** Everything handed out is a prefix of the log `l` read from disk, and consistent with its latest checkpoint. */
  check(l: LedgerContents, fleet: FleetRecorder): { checkpoints: number } {
    this.#receipts(fleet);
    expect(l.latestCheckpoint, 'no checkpoint on disk').toBeDefined();
    const latest = this.saw(l.latestCheckpoint!, `the latest checkpoint on disk (log size ${l.size})`);
    expect(latest.size).toBe(l.size);
    const bySize = new Map<number, [string, Checkpoint, string][]>();
    for (const [note, { cp, from }] of this.#seen) {
      expect(cp.size, `${from}: a checkpoint of size ${cp.size}, but the log on disk holds ${l.size} entries`).toBeLessThanOrEqual(l.size);
      bySize.set(cp.size, [...(bySize.get(cp.size) ?? []), [note, cp, from]]);
    }
    // One pass over the leaves: the root of each prefix some checkpoint names.
    const range = new CompactRange();
    for (let i = 0; i <= l.size; i++) {
      const named = bySize.get(i);
      if (named) {
        const root = toHex(range.root());
        for (const [, cp, from] of named) expect(toHex(cp.root), `${from}: its root is not the root of the log's first ${i} entries on disk`).toBe(root);
      }
      if (i < l.size) range.append(l.leaves[i]!);
    }
    for (const [note, { cp, from }] of this.#seen) {
      if (this.#proven.has(note) || cp.size === 0) continue;
      const proof = l.consistency.get(cp.size);
      if (!proof) {
        // Seen only now (the latest on disk): proven at the next kill's check.
        expect(cp.size, `${from}: no consistency proof was made from size ${cp.size}`).toBe(l.size);
        expect(note).toBe(l.latestCheckpoint);
        continue;
      }
      expect(l.storedCheckpoints.get(cp.size), `${from}: the checkpoint stored at size ${cp.size} is another note`).toBe(note);
      let code: unknown;
      try {
        verifyConsistency(cp.size, l.size, proof, cp.root, latest.root);
      } catch (err) {
        code = (err as { code?: unknown }).code ?? err;
      }
      expect(code, `${from}: consistency proof from size ${cp.size} to the latest checkpoint on disk (${l.size})`).toBeUndefined();
      if (cp.size < l.size) this.#proven.add(note);
    }
    return { checkpoints: this.#seen.size };
  }

  /**
   * Right after a restart, before the devices are pointed at it (so that nothing it logged since can hide a tree
   * that went back): it serves a checkpoint signed with the same key, at least as large as any handed out before.
   */
  async restarted(gw: GatewayProcess, fleet: FleetRecorder): Promise<void> {
    const before = this.maxSize(fleet);
    const log = await getLog(gw.httpUrl);
    expect(log.verifierKey).toBe(this.verifierKey);
    expect(log.origin).toBe(this.origin);
    expect(log.checkpoint).not.toBeNull();
    const cp = this.saw(log.checkpoint!, 'GET /v1/log after a restart');
    expect(cp.size, 'the restarted gateway\'s checkpoint is older than one handed out before the kill').toBeGreaterThanOrEqual(before);
    expect(cp.size).toBe(log.size);
    const res = await fetch(`${gw.httpUrl}/v1/checkpoints/latest`);
    expect(res.status).toBe(200);
    const latest = this.saw(await res.text(), 'GET /v1/checkpoints/latest after a restart');
    expect(latest.size).toBeGreaterThanOrEqual(before);
  }
}
