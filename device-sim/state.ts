/**
 * The device's non-volatile memory: one small JSON file per device (plus the secure element's sealed key file).
 * Sequence numbers follow SPEC §5: a block of numbers is reserved by persisting its upper end *before* any of
 * them is sent; on boot the device continues above the persisted value, so a crash can never reuse a number.
 */
import { closeSync, fchmodSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeDirectories } from '../node-fs/make-directories.js';
import { fail } from '../protocol/index.js';
import { readJsonFile } from './json-file.js';

export interface DeviceStateFile {
  version: 1;
  deviceId: string;
  alg: 'ed25519' | 'es256';
  kind: DeviceKind;
  agency: string;
  /** Secure element storage, relative to this file's directory. */
  keyFile: string;
  /** Device certificate (base64); devices do not need to parse it, the simulator keeps it for the operator. */
  certificate: string;
  firmware: string;
  readingTypes: string[];
  /** Fingerprint readers: the agency-provisioned salt for subject commitments (hex, >= 16 bytes). */
  salt?: string;
  /**
   * `tlsCa`: PEM of the CA that issued the gateway's TLS certificate, for mqtts: URLs (absent: the system's CAs).
   * `checkpointVerifierKey`: the gateway's checkpoint key receipts are checked with (provisioned, then followed as
   * the gateway hands it over: SPEC §7); `nextCheckpointVerifierKey`: the next key the gateway announced, if any.
   */
  gateway: { httpUrl: string; mqttUrl: string; aud: string; checkpointVerifierKey: string | null; nextCheckpointVerifierKey?: string; tlsCa?: string };
  /** Highest sequence number that may have been used (-1: none). */
  seqReserved: number;
  /** How many numbers one persist reserves (SPEC §5 "reserve blocks"). */
  seqBlock: number;
  /**
   * iat of the last connect token the gateway may have taken (SPEC §4: it takes a device's token only if dated later
   * than the last it accepted): every token made, less those refused with CONNACK 1, 2, 4 or 5 (not taken). Kept so
   * a device restarted within the same second dates its next token later still.
   */
  lastTokenIat?: number;
  /**
   * The largest checkpoint this device's receipts carried, the signed note exactly as received (text and signature
   * lines): the reference a later, smaller checkpoint is compared with (SPEC §7, log-watch.ts says when it is
   * written). Absent in state files written before it, and while no checkpoint key is provisioned.
   */
  logCheckpoint?: string;
  /** Pairs of checkpoints the gateway's key signed that no append-only log signs: the latest MAX_EVIDENCE (log-watch.ts). */
  evidence?: LogEvidence[];
}

/** A rollback or fork a device saw: both signed notes as received, each verifying with the provisioned checkpoint key. */
export interface LogEvidence {
  /** rollback: `received` is a smaller tree than `kept`; fork: the same size with another root hash. */
  kind: 'rollback' | 'fork';
  detectedAtMs: number;
  origin: string;
  keptSize: number;
  receivedSize: number;
  kept: string;
  received: string;
}

/** The gateway id devices are provisioned with when neither the installer nor the gateway names one (the gateway's default gatewayId). */
export const DEFAULT_AUD = 'originproof';

export type DeviceKind = 'fingerprint-reader' | 'temperature-sensor' | 'air-quality-sensor' | 'water-meter';
export const DEVICE_KINDS: readonly DeviceKind[] = ['fingerprint-reader', 'temperature-sensor', 'air-quality-sensor', 'water-meter'];

export function stateFilePath(dir: string, deviceId: string): string {
  return join(dir, `${deviceId}.json`);
}

/**
 * A device's state file read back, its fields checked (MALFORMED naming the file and the field otherwise): a damaged
 * or hand-edited file is refused, never run. Found by review: only `version` and `deviceId` were checked, so a
 * `seqReserved` of "41" (text) made the counter hand out "411", "4111", ..., and one missing made every seq NaN.
 */
export function readState(path: string): DeviceStateFile {
  const s = readJsonFile(path, 'device state file') as Record<string, unknown> | null;
  if (!isObject(s) || s.version !== 1 || typeof s.deviceId !== 'string') fail('MALFORMED', `${path} is not a device state file`, path);
  const bad = (field: string, what: string): never => fail('MALFORMED', `${path}: device state field ${field} must be ${what}, not ${JSON.stringify(s[field] ?? null)}`, field);
  const safeInt = (v: unknown, min: number): boolean => Number.isSafeInteger(v) && (v as number) >= min;
  if (!safeInt(s.seqReserved, -1)) bad('seqReserved', 'an integer from -1 to 2^53 - 1');
  if (!safeInt(s.seqBlock, 1)) bad('seqBlock', 'an integer >= 1');
  if (s.lastTokenIat !== undefined && !safeInt(s.lastTokenIat, 0)) bad('lastTokenIat', 'an integer >= 0 (seconds)');
  if (typeof s.keyFile !== 'string' || s.keyFile === '') bad('keyFile', 'a file name');
  if (typeof s.firmware !== 'string' || !/^[0-9a-f]{64}$/.test(s.firmware)) bad('firmware', '32 bytes of lowercase hex');
  if (s.alg !== 'ed25519' && s.alg !== 'es256') bad('alg', '"ed25519" or "es256"');
  if (!(DEVICE_KINDS as readonly unknown[]).includes(s.kind)) bad('kind', `one of ${DEVICE_KINDS.join(', ')}`);
  // The agency's secret (SPEC §3): named, never quoted. Found by the privacy review: unchecked, a missing or short one
  // failed at the first reading (a bare Error, or CLAIM_INVALID for every reading), a non-hex one with noble's message.
  if (s.kind === 'fingerprint-reader' && !(typeof s.salt === 'string' && /^(?:[0-9a-f]{2}){16,}$/.test(s.salt))) {
    fail('MALFORMED', `${path}: device state field salt must be the agency's salt, 16 or more bytes of lowercase hex (not shown: it is secret)`, 'salt');
  }
  const g = s.gateway;
  if (!isObject(g)) return bad('gateway', 'an object {httpUrl, mqttUrl, aud, checkpointVerifierKey}');
  const badGateway = (field: string, what: string): never =>
    fail('MALFORMED', `${path}: device state field gateway.${field} must be ${what}, not ${JSON.stringify(g[field] ?? null)}`, `gateway.${field}`);
  for (const field of ['httpUrl', 'mqttUrl', 'aud']) if (typeof g[field] !== 'string') badGateway(field, 'text');
  if (g.checkpointVerifierKey !== null && typeof g.checkpointVerifierKey !== 'string') badGateway('checkpointVerifierKey', 'a verifier key (text) or null');
  for (const field of ['nextCheckpointVerifierKey', 'tlsCa']) if (g[field] !== undefined && typeof g[field] !== 'string') badGateway(field, 'text');
  return s as unknown as DeviceStateFile;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Atomic write (temp file + rename): a crash leaves the old or the new state, never half of one. */
export function writeState(path: string, s: DeviceStateFile): void {
  makeDirectories(dirname(path));
  writePrivateFile(path, JSON.stringify(s, null, 2) + '\n');
}

/**
 * `data` to `path` through a temp file created 0600 and renamed over it: a fingerprint reader's state, and the fleet
 * manifest, hold the agency's salt, which is all that keeps a subject commitment from being undone by trying every
 * id number (SPEC §3); found by review written 0644, readable by every local user. A temp file a crash left behind
 * is set to 0600 before it is written, as it may have an older mode.
 */
export function writePrivateFile(path: string, data: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** The largest jump past a REPLAY (2^32): doubling from one block, reached after a few dozen REPLAYs in a row. */
const MAX_SEQ_JUMP = 2 ** 32;

/** Hands out sequence numbers, persisting each reserved block before the first number of it is used. */

export class SequenceCounter {
  private next: number;
  /** The last jump past a REPLAY (0: none since the gateway last took a reading numbered after it). */
  private jump = 0;
  /** The first number handed out after that jump. */
  private jumpedTo = 0;
  constructor(private readonly state: DeviceStateFile, private readonly persist: (s: DeviceStateFile) => void) {
    // On boot: continue above everything that may have been used (SPEC §5: numbers are persisted before use).
    this.next = state.seqReserved + 1;
  }
  get peek(): number {
    return this.next;
  }
  /**
   * On boot, `seq` is known used (a reading the outbox keeps): continue above it though the state file's seqReserved
   * is lower (it went back: an older backup, a hand edit). The next take() persists a block above it first.
   */
  continueAbove(seq: number): void {
    this.next = Math.max(this.next, seq + 1);
  }
  /**
   * The next number. A new block is persisted first, and only once that write succeeded is it reserved in memory
   * too: a failed write (disk full) throws, reserves nothing, and the next call tries to persist the block again,
   * so a number is never handed out unless non-volatile memory says it may have been used.
   */
  take(): number {
    const seq = this.next;
    if (seq > this.state.seqReserved) this.reserve(seq + Math.max(1, this.state.seqBlock) - 1);
    this.next = seq + 1;
    return seq;
  }
  /**
   * After a REPLAY of the reading numbered `rejected`: the gateway accepted a higher number (a state restored from an
   * old backup, say); jump ahead (and persist) past it. One block past it at first; twice the last jump while readings
   * numbered after that jump are REPLAYed too, so a device any distance behind catches up in a few readings (each
   * REPLAY drops one): one block at a time, a device 10,000 behind lost 100 readings (found by review). A REPLAY of a
   * reading numbered before the last jump tells nothing new: that jump passed it.
   */
  jumpPast(rejected: number): void {
    if (this.jump > 0 && rejected < this.jumpedTo) return;
    const jump = this.jump > 0 ? Math.min(MAX_SEQ_JUMP, this.jump * 2) : Math.max(1, this.state.seqBlock);
    const next = Math.max(this.next, rejected + 1) + jump;
    this.reserve(Math.max(this.state.seqReserved, next - 1));
    this.next = next;
    this.jump = jump;
    this.jumpedTo = next;
  }
  /** The gateway took the reading numbered `seq` (a receipt): a later REPLAY jumps one block again. */
  accepted(seq: number): void {
    if (this.jump > 0 && seq >= this.jumpedTo) this.jump = 0;
  }
  /** Persist `seqReserved = upTo` (a copy of the state), then take it in memory; throws, changing nothing, if the write does. */
  private reserve(upTo: number): void {
    this.persist({ ...this.state, seqReserved: upTo });
    this.state.seqReserved = upTo;
  }
}
