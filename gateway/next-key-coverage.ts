/**
 * Which devices have heard of an announced next checkpoint key (README "Checkpoint key rotation", SPEC §7 "A new
 * checkpoint key"), from what the log stores: `originproof ledger rotate-key` (checkpoint-rotate.ts) refuses to switch
 * while an active device has not, since every receipt of the new key alone fails on such a device (CHECKPOINT_INVALID)
 * until it is provisioned with the new key.
 *
 * The rule: a device has heard of the next key K when one of its readings is logged in a block of the announcement's
 * last run, the blocks from the latest back to (not including) the latest one whose checkpoint does not name K, each
 * naming K and signed by it. Its receipt carried such a checkpoint, and no later receipt can have taken K from it: a
 * device drops its next key at the first checkpoint that does not name it (a withdrawal), and every checkpoint after
 * that reading's (a resend's receipt carries the latest) names K. Readings logged before a withdrawal do not count,
 * even when the same K was announced again: the device may have dropped it in between. Neither do those of another
 * key withdrawn for K. What the log cannot tell: a receipt logged but never delivered (the device went away for good
 * before it came); such a device counts as having heard.
 *
 * Active devices are those registered, not revoked (nor their agency) and whose certificate and agency's certificate
 * have not expired at the time of the check; a device not valid yet counts (it will act, with the keys it holds).
 * Whether its root is still trusted is not judged (the trust file is the gateway's start option): such a device counts.
 *
 * Cost: one reverse read of each active device's index (its latest reading, whatever its number of entries), and the
 * blocks' checkpoints from the latest back until the run's start or until every device's latest reading is reached
 * (each checkpoint checked with the log's key and K's). The log is read through Ledger's checked queries.
 */
import { join } from 'node:path';
import type { DeviceHit } from '../ledger/backend.js';
import { nodeEd25519Verify } from '../ledger/signer.js';
import type { BlockHeader } from '../protocol/bundle.js';
import { formatVerifierKey, openNote, parseCheckpoint, parseNote, parseVerifierKey, type Ed25519Verify } from '../protocol/checkpoint.js';
import { announcedNextKey } from '../protocol/checkpoint-handover.js';
import { inEffect } from './registry-rules.js';
import { registryViewOf } from './registry.js';
import type { DeviceRecord } from './registry-view.js';
import { DEFAULT_CONFIG } from './config-defaults.js';
import { nodeEd25519NoteSigner } from './crypto/node-note-signer.js';
import { openGatewayLedger } from './ledger-adapter.js';

/** How many active devices have heard of the next key, and which have not. */
export interface NextKeyCoverage {
  /** The next key (C2SP verifier key text). */
  nextKey: string;
  /** Active devices (registered, not revoked, not expired at the check). */
  active: number;
  /** Of them, those with a reading in a block of the announcement's last run. */
  heard: number;
  /** The active devices that have not heard, by device id. */
  unheard: string[];
}

/** What the coverage reads of the log (Ledger's checked queries). */
export interface CoverageLog {
  /** Height of the latest committed block (-1: none). */
  readonly height: number;
  /** Entries committed. */
  readonly size: number;
  blockHeader(height: number): Promise<BlockHeader | undefined>;
  /** The checkpoint signed at `treeSize`, checked with the log's key. */
  checkpoint(treeSize: number): Promise<string | undefined>;
  lastDeviceHit(deviceId: string): Promise<DeviceHit | undefined>;
}

/**
 * Whether the checkpoint `note` names `nextKey` as the next key and `nextKey` signed it: what makes a device that
 * checks it keep `nextKey` (protocol/checkpoint-handover.ts followCheckpointKeys). A malformed note or line: false.
 */
export function namesNextKey(note: string, nextKey: string, verify?: Ed25519Verify): boolean {
  try {
    const named = announcedNextKey(parseCheckpoint(parseNote(note).text));
    return named !== null && formatVerifierKey(named.name, named.publicKey) === nextKey && openNote(note, [parseVerifierKey(nextKey)], verify).verified.length > 0;
  } catch {
    return false;
  }
}

/**
 * A device that can act at `nowS` (seconds) or later with what it holds: not revoked, nor its agency, at `nowS`, and
 * neither its certificate nor its agency's expired then (one not valid yet is active: it will be).
 */
export function activeAt(d: DeviceRecord, nowS: number): boolean {
  if (inEffect(d.revocation, nowS) || inEffect(d.agency.revocation, nowS)) return false;
  return nowS < d.cert.claims.exp && nowS < d.agency.cert.claims.exp;
}

/**
 * The announcement's last run of blocks, walked back lazily: from the blocks above `known.height` (known to name the
 * key: entries from `known.size` on) down, block by block, only as far as a question needs and never twice. One
 * question at a time (the walk is not safe to interleave).
 */
export class AnnouncementRun {
  /** Entries from this index on are in the run (as far as the walk has gone). */
  #from: number;
  /** The next block down to look at; -1 once the walk has ended (a block not naming the key, or block 0 passed). */
  #height: number;

  constructor(private readonly log: CoverageLog, private readonly nextKey: string, known: { height: number; size: number }, private readonly verify: Ed25519Verify = nodeEd25519Verify) {
    this.#from = known.size;
    this.#height = known.height;
  }

  /** Whether entry `index` lies in a block of the run. */
  async covers(index: number): Promise<boolean> {
    while (index < this.#from && this.#height >= 0) {
      const header = await this.log.blockHeader(this.#height);
      const note = header && (await this.log.checkpoint(header.treeSize));
      if (!header || note === undefined || !namesNextKey(note, this.nextKey, this.verify)) {
        this.#height = -1;
        break;
      }
      this.#from = header.firstIndex;
      this.#height--;
    }
    return index >= this.#from;
  }
}

/** Index reads in flight at once (LevelDB answers them on its threads: ~3x faster than one at a time). */
const READS_AT_ONCE = 64;

/** Adds to `heard` each of `deviceIds` whose latest reading lies in `run` (one index read each; `heard` ones skipped). */
async function findHeard(log: CoverageLog, run: AnnouncementRun, deviceIds: Iterable<string>, heard: Set<string>): Promise<void> {
  const ids = [...deviceIds].filter((id) => !heard.has(id));
  for (let at = 0; at < ids.length; at += READS_AT_ONCE) {
    const batch = ids.slice(at, at + READS_AT_ONCE);
    const hits = await Promise.all(batch.map((id) => log.lastDeviceHit(id)));
    // The walk one question at a time.
    for (let i = 0; i < batch.length; i++) if (hits[i] && (await run.covers(hits[i]!.index))) heard.add(batch[i]!);
  }
}

/** The coverage among `devices` active at `nowMs`, `heard` those that heard (pure). */
export function coverageOf(nextKey: string, devices: Iterable<DeviceRecord>, heard: ReadonlySet<string>, nowMs: number): NextKeyCoverage {
  const nowS = Math.floor(nowMs / 1000);
  let active = 0;
  const unheard: string[] = [];
  for (const d of devices) {
    if (!activeAt(d, nowS)) continue;
    active++;
    if (!heard.has(d.deviceId)) unheard.push(d.deviceId);
  }
  return { nextKey, active, heard: active - unheard.length, unheard: unheard.sort() };
}

/**
 * The coverage of `nextKey` among `devices` active at `nowMs`, from `log` (see the top of this file). The log's latest
 * checkpoint should name the key (checkpoint-rotate.ts checks that first); if it does not, no device has heard.
 */
export async function nextKeyCoverage(log: CoverageLog, devices: Iterable<DeviceRecord>, nextKey: string, nowMs: number, verify: Ed25519Verify = nodeEd25519Verify): Promise<NextKeyCoverage> {
  const nowS = Math.floor(nowMs / 1000);
  const active = [...devices].filter((d) => activeAt(d, nowS));
  const heard = new Set<string>();
  await findHeard(log, new AnnouncementRun(log, nextKey, { height: log.height, size: log.size }, verify), active.map((d) => d.deviceId), heard);
  return coverageOf(nextKey, active, heard, nowMs);
}

/**
 * The coverage while a gateway runs with `nextKey` announced (/metrics originproof_next_key_devices, metrics.ts): every
 * block it signs names the key, so each reading it logs makes its device one that heard (`logged`, from the ledger's
 * answer); those that heard in the blocks before its start are read from the log once, at the first question (the run
 * walked back from the block before the start). A question costs a pass over the registry in memory then.
 */
export class NextKeyCoverageWatch {
  readonly #heard = new Set<string>();
  readonly #run: AnnouncementRun;
  #loaded: Promise<void> | undefined;

  /** Made at the start, before any block is logged: the blocks above `log`'s latest then are this gateway's. */
  constructor(private readonly log: CoverageLog, readonly nextKey: string, private readonly devices: () => Iterable<DeviceRecord>) {
    this.#run = new AnnouncementRun(log, nextKey, { height: log.height, size: log.size });
  }

  /** A reading of `deviceId` was logged (in a block naming the next key). */
  logged(deviceId: string): void {
    this.#heard.add(deviceId);
  }

  async coverage(nowMs: number): Promise<NextKeyCoverage> {
    const ids = () => [...this.devices()].map((d) => d.deviceId);
    // A failed read (the store failing) is tried again at the next question; the walk keeps what it had done.
    await (this.#loaded ??= findHeard(this.log, this.#run, ids(), this.#heard).catch((err: unknown) => {
      this.#loaded = undefined;
      throw err;
    }));
    return coverageOf(this.nextKey, this.devices(), this.#heard, nowMs);
  }
}

/**
 * The coverage of `nextKey` in a stopped gateway's data directory (its store's lock is taken here: a running gateway
 * makes this UNAVAILABLE). `secretKey`: the log's current checkpoint key (the ledger opens with it, as at the start;
 * a log whose key is another throws LedgerKeyMismatchError). The registry is read from the log as at the start.
 */
export async function readNextKeyCoverage(dataDir: string, origin: string, secretKey: Uint8Array, nextKey: string, nowMs: number): Promise<NextKeyCoverage> {
  const gl = await openGatewayLedger(join(dataDir, 'ledger'), {
    origin,
    signer: nodeEd25519NoteSigner(origin, secretKey),
    blockMaxEntries: DEFAULT_CONFIG.blockMaxEntries, // nothing is appended here
    blockMaxMs: DEFAULT_CONFIG.blockMaxMs,
  });
  try {
    const registry = await registryViewOf(gl.registryEvents());
    return await nextKeyCoverage(gl.ledger, registry.devices(), nextKey, nowMs);
  } finally {
    await gl.close();
  }
}

/** Device ids a refusal names at most (the count says how many more). */
export const UNHEARD_NAMED = 20;

/** `ids` for a message: the first UNHEARD_NAMED, and how many more. */
export function nameDevices(ids: readonly string[]): string {
  const more = ids.length - UNHEARD_NAMED;
  return ids.slice(0, UNHEARD_NAMED).join(', ') + (more > 0 ? ` and ${more} more` : '');
}

/**
 * rotate-key refused: an active device has not heard of the next key (NEXT_KEY_NOT_HEARD, gateway/config-defaults.ts
 * LEDGER_COMMAND_ERROR_CODES), the coverage kept for the caller.
 */
export class NextKeyNotHeard extends Error {
  readonly code = 'NEXT_KEY_NOT_HEARD';
  constructor(readonly coverage: NextKeyCoverage) {
    const c = coverage;
    super(
      `${c.heard} of ${c.active} active devices had a receipt naming the next key ${c.nextKey}; ${c.unheard.length} did not: ${nameDevices(c.unheard)}. ` +
        'Start the gateway again and let them publish (each receipt names the next key), or switch anyway with --allow-unheard (those devices then need the new key provisioned); nothing was written',
    );
    this.name = 'NextKeyNotHeard';
  }
}
