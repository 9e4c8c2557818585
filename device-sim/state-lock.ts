/**
 * One device, one process: `<id>.json.lock` next to a device's state file, created exclusively with the holder's
 * process id, held from the Device's construction until its close(). A device is one piece of hardware; two
 * simulators running the same fleet directory (two `sim run`s, say) would each continue from the same persisted
 * `seqReserved` and sign different readings under the same seqs (the gateway answers the later ones REPLAY), date
 * connect tokens from the same `lastTokenIat`, and compact each other's outbox log away. Found by review: nothing
 * stopped the second one.
 *
 * Held by a running process, or by another Device of this process not closed yet: CONFLICT (the code of "in the way
 * of another", as the monitor's state lock, cli/commands/monitor-state.ts). Left by a process that is gone (killed,
 * crashed): taken over. On Linux the lock also names when its process started (processStart): a lock whose process
 * id now belongs to a process started at another time, or in an earlier boot, is taken over too. Found by review:
 * after a reboot another process could have the id, and the lock needed removing by hand.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeDirectories } from '../node-fs/make-directories.js';

/** The state files this process holds. */
const held = new Set<string>();

export function stateLockPath(statePath: string): string {
  return `${statePath}.lock`;
}

/** Whether a process of that id runs (signal 0 only checks); EPERM: it runs, as another user. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When the process `pid` started, as this Linux kernel tells it: field 22 of /proc/<pid>/stat (clock ticks since
 * boot) and the boot's id (ticks restart at each boot). Null elsewhere, or when it cannot be read (the process gone,
 * or hidden from this user): then a lock is judged by its process id alone, as before.
 */
export function processStart(pid: number): string | null {
  if (process.platform !== 'linux') return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the fields after its last ')' start at 3.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return start && /^\d+$/.test(start) && /^[0-9a-f-]+$/.test(boot) ? `${start}@${boot}` : null;
  } catch {
    return null;
  }
}

/**
 * What a lock file says: `<pid>\n` (written before start times were kept, or where none is known) or
 * `<pid> <start>\n` (processStart). `pid` NaN: none readable. A start not followed by the newline may be cut short
 * (read while being written): not taken, the lock is judged by its id alone.
 */
function parseLock(text: string): { pid: number; start: string | null } {
  const [pid, start] = text.trim().split(' ');
  return { pid: pid ? Number(pid) : NaN, start: start && text.endsWith('\n') ? start : null };
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Create `lock` exclusively, holding this process's id (and, on Linux, its start: processStart). A lock whose process
 * is gone (killed, crashed) is taken over; so is one whose id is now another process's (its start differs: a reboot,
 * or the id reused), and one holding no id that is more than a few seconds old (a crash between creating it and
 * writing the id). A lock with an id only (an older one, or written where no start is known) is judged by the id
 * alone. Returns null once taken, else the id of the process holding it (NaN: unreadable). `ownIdIsStale`: this
 * process's own id in it is an earlier process's that had the id (the caller tracks what it holds itself); without
 * it, this process's own id and start in it count as held (the monitor's state lock: cli/commands/monitor-state.ts
 * holdState), its own id with another start as an earlier process's.
 */
export function takePidLock(lock: string, o: { ownIdIsStale?: boolean } = {}): number | null {
  let holder = NaN;
  const ownStart = processStart(process.pid);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(lock, ownStart ? `${process.pid} ${ownStart}\n` : `${process.pid}\n`, { flag: 'wx' });
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let start: string | null;
    try {
      ({ pid: holder, start } = parseLock(readFileSync(lock, 'utf8')));
    } catch {
      continue; // removed meanwhile: try again
    }
    const valid = Number.isSafeInteger(holder) && holder > 0;
    // A start it names that is not its process's now (null: unknown, e.g. not Linux): another process has the id.
    const now = valid && start !== null ? processStart(holder) : null;
    const reused = now !== null && now !== start;
    if (valid && !reused && !(o.ownIdIsStale && holder === process.pid) && running(holder)) return holder;
    // Its process is gone; or no process id in it: just created (the id is written next), or left by a crash in
    // between, which a few seconds tell apart.
    if (valid || ageMs(lock) > 10_000) rmSync(lock, { force: true });
    else return holder;
  }
  return holder;
}

/** Hold the device state file at `statePath` for this process; returns the release. Throws CONFLICT when in use. */
export function holdStateFile(statePath: string): () => void {
  const lock = stateLockPath(statePath);
  const release = () => {
    if (!held.delete(lock)) return;
    rmSync(lock, { force: true });
  };
  let holder = process.pid;
  if (!held.has(lock)) {
    makeDirectories(dirname(lock));
    // Our own id in a lock this process does not hold: left by an earlier process that had this id.
    const h = takePidLock(lock, { ownIdIsStale: true });
    if (h === null) {
      held.add(lock);
      return release;
    }
    holder = h;
  }
  const who = holder === process.pid ? 'another device object of this process (close it first)' : `process ${Number.isSafeInteger(holder) && holder > 0 ? holder : '?'}`;
  throw Object.assign(
    new Error(`${statePath} is in use by ${who}, ${lock}: a device runs in one simulator at a time (two would reuse its sequence numbers); remove ${lock} if none runs`),
    { code: 'CONFLICT' },
  );
}
