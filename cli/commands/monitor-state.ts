/**
 * The monitor's state file (JSON, version 1): the last good checkpoint, the checkpoints seen and the alarms with
 * their evidence. Written whole to a temporary file and renamed over the old one, so an interrupted run leaves the old
 * file whole. A round holds the file (holdState) from loading to saving, so that two runs at once (cron jobs that
 * overlap) cannot write back a state that misses the other's alarm.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { takePidLock } from '../../device-sim/state-lock.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { OriginProofError } from '../../protocol/errors.js';
import { parseJsonFile, readBoundedFile } from '../files.js';
import type { SeenRevocations } from './monitor-revocations.js';

const HISTORY_CAP = 10_000;

/** Far above what HISTORY_CAP checkpoints and the alarms take (~2 MB): a larger file is not this monitor's state. */
const STATE_FILE_MAX_BYTES = 64 << 20;

/** A failed consistency check, as recorded: what was compared, and the gateway's proof if it gave one. */
export interface ConsistencyEvidence {
  /** The last good checkpoint (its note as the gateway signed it). */
  last: { size: number; root: string; note: string };
  /** The checkpoint the gateway served (its note is the alarm's `note`). */
  served: { size: number; root: string };
  /** The gateway's consistency proof (RFC 9162 §2.1.4) between the two sizes, base64 hashes; absent if none came. */
  proof?: { from: number; to: number; hashes: string[] };
}

export interface MonitorAlarm {
  at: string;
  code: ErrorCode;
  message: string;
  from?: number;
  to?: number;
  /** The checkpoint note the gateway served, verbatim (up to NOTE_EVIDENCE_CAP characters). */
  note?: string;
  consistency?: ConsistencyEvidence;
  /** Set by --acknowledge; until then every round reports an alarm. */
  acknowledgedAt?: string;
}

/** Version 1 throughout: the alarm's evidence and acknowledgedAt are optional, so older state files still load. */
export interface MonitorState {
  version: 1;
  gateway: string;
  origin?: string;
  /** Pinned on first use when no trust file is given (then followed through an announced handover, SPEC §7). */
  verifierKey?: string;
  /** The next key the gateway announced (a checkpoint signed by the pinned key naming it, and by it), if any. */
  nextVerifierKey?: string;
  /** The last checkpoint that verified and was consistent with everything before it. */
  latest?: { size: number; root: string; note: string; seenAt: string; revocations?: SeenRevocations };
  /** Every checkpoint seen (size, root), oldest first; capped. */
  history: { size: number; root: string; seenAt: string }[];
  alarms: MonitorAlarm[];
}

/**
 * The monitor's own input cannot be used (the state file, or a trust file with no key valid now): no round can check
 * anything until someone fixes it, so the command stops (exit 2) even in its loop, and no alarm is recorded against
 * the gateway.
 */
export class UnusableInput extends OriginProofError {}

function unusable(message: string, path: string): never {
  throw new UnusableInput('MALFORMED', message, { path });
}

export function loadState(path: string, gateway: string): MonitorState {
  let text: string;
  try {
    text = new TextDecoder().decode(readBoundedFile(path, STATE_FILE_MAX_BYTES));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { version: 1, gateway, history: [], alarms: [] };
    return unusable(code ? `cannot read ${path}: ${code}` : (err as Error).message, 'state');
  }
  let s: MonitorState | null;
  try {
    s = parseJsonFile(text, path, 'monitor state file') as MonitorState | null;
  } catch (err) {
    throw new UnusableInput('MALFORMED', (err as Error).message, { path: 'state', cause: err });
  }
  if (s?.version !== 1 || typeof s.gateway !== 'string' || !Array.isArray(s.history) || !Array.isArray(s.alarms)) unusable(`${path} is not a monitor state file`, 'state');
  // Its checkpoints and alarms are another log's: compared with this gateway's they would raise a false alarm.
  if (sameGateway(s.gateway, gateway)) return s;
  return unusable(`${path} is the state of gateway ${s.gateway}, not of ${gateway}: give each gateway its own --state file`, 'state');
}

/** The same gateway base URL: scheme and host case, default port and trailing slashes aside. */
export function sameGateway(a: string, b: string): boolean {
  const norm = (u: string): string => {
    try {
      const url = new URL(u);
      url.pathname = url.pathname.replace(/\/+$/, '');
      return url.href.replace(/\/+$/, '');
    } catch {
      return u.replace(/\/+$/, '');
    }
  };
  return norm(a) === norm(b);
}

export function saveState(path: string, s: MonitorState): void {
  if (s.history.length > HISTORY_CAP) s.history.splice(0, s.history.length - HISTORY_CAP);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(tmp, path);
}

/**
 * Hold the state file for one round: PATH.lock, created exclusively, with this process's id. Held by a running
 * process (another monitor on the same state file): CONFLICT, exit 2, nothing loaded or recorded. Left by a process
 * that is gone (killed mid-round), or whose id another process has now (Linux: takePidLock): taken over. Returns the
 * release.
 */
export function holdState(path: string): () => void {
  const lock = `${path}.lock`;
  const holder = takePidLock(lock);
  if (holder === null) return () => rmSync(lock, { force: true });
  // CONFLICT: the HTTP API's code for "in the way of another" (gateway/http/error-registry.ts), shown in brackets.
  throw Object.assign(new Error(`${path} is in use by another monitor (process ${Number.isSafeInteger(holder) && holder > 0 ? holder : '?'}, ${lock}); run one monitor per state file, or remove ${lock} if no monitor runs`), { code: 'CONFLICT' });
}
