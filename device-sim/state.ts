/**
 * The device's non-volatile memory: one small JSON file per device (plus the secure element's sealed key file).
 * Sequence numbers follow SPEC §5: a block of numbers is reserved by persisting its upper end *before* any of
 * them is sent; on boot the device continues above the persisted value, so a crash can never reuse a number.
 */
import { closeSync, fchmodSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

export function readState(path: string): DeviceStateFile {
  const s = readJsonFile(path, 'device state file') as DeviceStateFile | null;
  if (s?.version !== 1 || typeof s.deviceId !== 'string') throw new Error(`${path} is not a device state file`);
  return s;
}

/** Atomic write (temp file + rename): a crash leaves the old or the new state, never half of one. */
export function writeState(path: string, s: DeviceStateFile): void {
  mkdirSync(dirname(path), { recursive: true });
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

/** Hands out sequence numbers, persisting each reserved block before the first number of it is used. */
export class SequenceCounter {
  private next: number;
  constructor(private readonly state: DeviceStateFile, private readonly persist: (s: DeviceStateFile) => void) {
    // On boot: continue above everything that may have been used.
    this.next = state.seqReserved + 1;
  }
  get peek(): number {
    return this.next;
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
  /** After a REPLAY: a number was reused somewhere; jump ahead (and persist) past `atLeast`. */
  jumpPast(atLeast: number): void {
    const next = Math.max(this.next, atLeast + 1) + Math.max(1, this.state.seqBlock);
    this.reserve(Math.max(this.state.seqReserved, next - 1));
    this.next = next;
  }
  /** Persist `seqReserved = upTo` (a copy of the state), then take it in memory; throws, changing nothing, if the write does. */
  private reserve(upTo: number): void {
    this.persist({ ...this.state, seqReserved: upTo });
    this.state.seqReserved = upTo;
  }
}
