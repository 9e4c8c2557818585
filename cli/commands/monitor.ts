/**
 * `originproof monitor --gateway URL --state FILE [--trust TRUST.json] [--interval S] [--once] [--acknowledge]`:
 * follow a gateway's checkpoints. Each round fetches /v1/checkpoints/latest, verifies it against the trusted
 * checkpoint key(s), and proves it consistent (RFC 9162 §2.1.4, /v1/proofs/consistency) with the last
 * checkpoint seen, which the state file keeps. Anything else is an alarm, named with both tree sizes:
 *   CHECKPOINT_INVALID  the checkpoint does not verify (unknown key, bad signature, other origin)
 *   CONSISTENCY_INVALID the new checkpoint does not extend the last one (rewritten or forked log), the same
 *                       size with another root, or the gateway cannot give the proof
 *   CHECKPOINT_INVALID  "REVOCATIONS: ..." the new checkpoint's `revocations` line does not extend the last one:
 *                       fewer, other, or not by the entries the gateway lists as logged since (GET /v1/revocations
 *                       at the new checkpoint's size), or that list comes with another checkpoint of that size
 *                       (monitor-revocations.ts)
 * Without --trust the first run pins the key the gateway advertises (/v1/log) in the state file
 * (trust on first use); with --trust only the trust file's checkpoint keys are accepted, each for the time of the
 * checkpoint's block (monitor-block-time.ts).
 * An alarm leaves the last good checkpoint in place and is recorded with its evidence (the served checkpoint note;
 * for a failed consistency check both checkpoints and the gateway's proof, if any). Alarms are sticky: while the
 * state file holds one not acknowledged, every round reports an alarm (naming the first and the count), though it
 * still does its own round and advances the last good checkpoint when the new one extends it. `--acknowledge`
 * marks the alarms acknowledged (with the time) before the round, once someone has looked.
 * Exit codes: 0 no alarm; 1 alarm; 2 unusable input (unreadable trust/state file, a state file of another gateway, a
 * trust file with no checkpoint key valid now: the loop ends on these too), or with --once an unreachable gateway.
 */
import type { Command } from 'commander';
import { fromBase64, toBase64 } from '../../protocol/bytes.js';
import { formatVerifierKey, openCheckpoint, parseVerifierKey, type Checkpoint, type NoteVerifier } from '../../protocol/checkpoint.js';
import { followCheckpointKeys, type CheckpointKeys } from '../../protocol/checkpoint-handover.js';
import { fail, OriginProofError, type ErrorCode } from '../../protocol/errors.js';
import { verifyConsistency } from '../../protocol/merkle/index.js';
import { checkpointKeysAt, parseTrustText, TRUST_FILE_MAX_BYTES, type TrustMaterial } from '../../protocol/trust.js';
import { readBoundedFile } from '../files.js';
import { DEFAULT_TIMEOUT_SECONDS, gatewayGet, timeoutOption, type GatewayRequest } from '../gateway-http.js';
import { revocationProblem, seenRevocations, type SeenRevocations } from './monitor-revocations.js';
import { keysForCheckpoint } from './monitor-block-time.js';
import { printable } from '../../protocol/printable.js';
import { holdState, loadState, saveState, UnusableInput, type ConsistencyEvidence, type MonitorAlarm, type MonitorState } from './monitor-state.js';

export { loadState, UnusableInput, type ConsistencyEvidence, type MonitorAlarm, type MonitorState } from './monitor-state.js';

export interface MonitorResult {
  /** 'alarm' when this round found one, or when the state file holds unacknowledged alarms. */
  status: 'first' | 'unchanged' | 'grew' | 'alarm';
  /** This round's alarm; or, when only earlier alarms stand, the first of them, the count and this round. */
  message: string;
  code?: ErrorCode;
  from?: number;
  to?: number;
  checkpoint?: { size: number; root: string };
  /** With status 'alarm' when this round itself found none: what it saw. */
  round?: 'first' | 'unchanged' | 'grew';
  /** With status 'alarm': the unacknowledged alarms in the state file (this round's included), and the first. */
  unacknowledged?: number;
  firstUnacknowledged?: MonitorAlarm;
  /** With `acknowledge`: how many alarms this run acknowledged. */
  acknowledged?: number;
}

export interface MonitorOptions {
  gateway: string;
  statePath: string;
  /** Trust file text or parsed material; absent = pin the gateway's key on first use. */
  trust?: TrustMaterial;
  now?: () => number;
  /** Mark the state file's alarms acknowledged before the round (someone has looked). */
  acknowledge?: boolean;
  /** How long each request to the gateway may take (default DEFAULT_TIMEOUT_SECONDS): past it the round fails. */
  timeoutMs?: number;
  /** With `acknowledge`: only alarms raised up to this time (ISO 8601, as MonitorAlarm.at), e.g. the command's start. */
  acknowledgeUpTo?: string;
  /** Called once `acknowledge` is saved in the state file (monitorLoop: not to acknowledge again). */
  onAcknowledged?: () => void;
}

const requestOf = (o: MonitorOptions): GatewayRequest => (o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {});

/** A real note is a few hundred bytes (at most 100 signatures); a hostile gateway's answer must not bloat the state. */
const NOTE_EVIDENCE_CAP = 65_536;

class Alarm extends Error {
  consistency?: ConsistencyEvidence;
  constructor(readonly code: ErrorCode, message: string, readonly from?: number, readonly to?: number) {
    super(message);
  }
}

async function trustedKeys(o: MonitorOptions, state: MonitorState, nowS: number): Promise<NoteVerifier[]> {
  if (o.trust) {
    const keys = checkpointKeysAt(o.trust, nowS);
    // The verifier's configuration, not the gateway's doing: no alarm against it (each round raised one, sticky until
    // acknowledged, when a key's notAfter passed: suspected by the verifier-CLI review), but unusable input.
    if (keys.length === 0) {
      throw new UnusableInput('MALFORMED', `the trust file has no checkpoint key valid now (${new Date(nowS * 1000).toISOString()}): give it the gateway's current key (originproof trust --gateway)`, { path: 'checkpointKeys' });
    }
    return keys;
  }
  if (!state.verifierKey) {
    const log = (await gatewayGet(o.gateway, 'v1/log', requestOf(o))).json() as { verifierKey?: string };
    if (typeof log.verifierKey !== 'string') fail('MALFORMED', 'the gateway did not advertise a checkpoint verifier key (/v1/log)', 'verifierKey');
    parseVerifierKey(log.verifierKey);
    state.verifierKey = log.verifierKey;
  }
  return [parseVerifierKey(state.verifierKey)];
}

/** The gateway answered, but with no usable answer (gatewayGet's MALFORMED, TOO_LARGE): its word, not the network's. */
export const answerRefused = (err: unknown): boolean => err instanceof OriginProofError && (err.code === 'MALFORMED' || err.code === 'TOO_LARGE');

async function consistencyProof(gateway: string, from: number, to: number, req: GatewayRequest): Promise<Uint8Array[]> {
  let body: { from?: number; to?: number; proof?: unknown };
  try {
    body = (await gatewayGet(gateway, `v1/proofs/consistency?from=${from}&to=${to}`, req)).json() as typeof body;
  } catch (err) {
    // An error status, or a 200 answer that is no proof at all (not JSON, too large): the gateway cannot prove it. Only
    // a failure to reach it (UNAVAILABLE) fails the round instead, to be retried.
    if ((err as { status?: number }).status !== undefined || answerRefused(err)) {
      throw new Alarm('CONSISTENCY_INVALID', `the gateway cannot prove that tree size ${to} extends tree size ${from}: ${(err as Error).message}`, from, to);
    }
    throw err;
  }
  if (body.from !== from || body.to !== to || !Array.isArray(body.proof)) throw new Alarm('CONSISTENCY_INVALID', `the gateway answered a malformed consistency proof for ${from} -> ${to}`, from, to);
  try {
    return body.proof.map((p) => fromBase64(String(p)));
  } catch {
    throw new Alarm('CONSISTENCY_INVALID', `the consistency proof for ${from} -> ${to} is not base64`, from, to);
  }
}

/** One round: fetch, verify, prove consistency with the last seen checkpoint, update the state file (held meanwhile). */
export async function monitorOnce(o: MonitorOptions): Promise<MonitorResult> {
  const release = holdState(o.statePath);
  try {
    return await round(o);
  } finally {
    release();
  }
}

async function round(o: MonitorOptions): Promise<MonitorResult> {
  const nowMs = (o.now ?? Date.now)();
  const seenAt = new Date(nowMs).toISOString();
  const state = loadState(o.statePath, o.gateway);
  let acknowledged: number | undefined;
  if (o.acknowledge) {
    const open = state.alarms.filter((a) => a.acknowledgedAt === undefined && (o.acknowledgeUpTo === undefined || a.at <= o.acknowledgeUpTo));
    for (const a of open) a.acknowledgedAt = seenAt;
    acknowledged = open.length;
    saveState(o.statePath, state); // kept even if the round below cannot reach the gateway
    o.onAcknowledged?.();
  }
  let result: MonitorResult;
  let note: string | undefined;
  try {
    const keys = await trustedKeys(o, state, Math.floor(nowMs / 1000));
    note = (await gatewayGet(o.gateway, 'v1/checkpoints/latest', requestOf(o))).text();
    const last = state.latest;
    let cp: Checkpoint;
    /** The pinned keys after this checkpoint (no trust file): kept once the round finds nothing wrong. */
    let followed: CheckpointKeys | undefined;
    // With a trust file: the keys of the checkpoint's block time (monitor-block-time.ts), fetched outside the check below
    // so that an unreachable gateway fails the round rather than raising an alarm.
    const choice = o.trust ? await keysForCheckpoint(o.gateway, requestOf(o), o.trust, note, Math.floor(nowMs / 1000)) : undefined;
    try {
      if (o.trust) {
        if (choice && 'problem' in choice) fail('CHECKPOINT_INVALID', choice.problem, 'block');
        cp = openCheckpoint(note, choice?.keys ?? keys, o.trust.origin ? { origin: o.trust.origin } : state.origin ? { origin: state.origin } : {});
      } else {
        // The key pinned on first use, followed through the gateway's announced handover to its next key (SPEC §7, as
        // a device does): a next key named by a checkpoint the pinned key signed, and signing it too, is kept; the
        // first checkpoint signed by it alone makes it the pinned one. Any other key is still CHECKPOINT_INVALID.
        const held: CheckpointKeys = { current: keys[0]!, next: state.nextVerifierKey ? parseVerifierKey(state.nextVerifierKey) : null };
        const f = followCheckpointKeys(note, held);
        if (state.origin && f.checkpoint.origin !== state.origin) fail('CHECKPOINT_INVALID', `checkpoint origin ${f.checkpoint.origin} is not ${state.origin}`, 'origin');
        cp = f.checkpoint;
        followed = f.keys;
      }
    } catch (err) {
      if (!(err instanceof OriginProofError)) throw err;
      const size = /^[^\n]*\n(\d+)\n/.exec(note)?.[1];
      throw new Alarm('CHECKPOINT_INVALID', `the gateway's latest checkpoint${size ? ` (tree size ${size})` : ''} cannot be verified: ${err.message}${last ? `; last good checkpoint is at tree size ${last.size}` : ''}`, last?.size, size ? Number(size) : undefined);
    }
    const root = toBase64(cp.root);
    /** A consistency alarm with what was compared and the proof the gateway gave, if any. */
    const inconsistent = (message: string, proof?: { from: number; to: number; hashes: Uint8Array[] }): Alarm => {
      const a = new Alarm('CONSISTENCY_INVALID', message, last!.size, cp.size);
      a.consistency = {
        last: { size: last!.size, root: last!.root, note: last!.note }, served: { size: cp.size, root },
        ...(proof ? { proof: { from: proof.from, to: proof.to, hashes: proof.hashes.map(toBase64) } } : {}),
      };
      return a;
    };
    if (!last) {
      result = { status: 'first', message: `first checkpoint of ${cp.origin}: tree size ${cp.size}, root ${root}`, checkpoint: { size: cp.size, root } };
    } else if (cp.size === last.size) {
      if (root !== last.root) throw inconsistent(`FORK: two checkpoints at tree size ${cp.size} with different roots (${last.root} before, ${root} now)`);
      result = { status: 'unchanged', message: `tree size ${cp.size} unchanged`, checkpoint: { size: cp.size, root } };
    } else if (cp.size < last.size) {
      // A log never shrinks: alarm either way, saying whether the older view is at least a prefix of what was seen.
      let proof: Uint8Array[] | undefined;
      try {
        proof = await consistencyProof(o.gateway, cp.size, last.size, requestOf(o));
        verifyConsistency(cp.size, last.size, proof, cp.root, fromBase64(last.root));
      } catch (err) {
        if (!(err instanceof Alarm) && !(err instanceof OriginProofError)) throw err;
        throw inconsistent(`the log went back from tree size ${last.size} to ${cp.size} and is not a prefix of what was seen: ${(err as Error).message}`, proof && { from: cp.size, to: last.size, hashes: proof });
      }
      throw inconsistent(`the gateway serves tree size ${cp.size}, older than tree size ${last.size} seen before (consistent, but the log must not shrink)`, { from: cp.size, to: last.size, hashes: proof });
    } else {
      let proof: Uint8Array[];
      try {
        proof = await consistencyProof(o.gateway, last.size, cp.size, requestOf(o));
      } catch (err) {
        if (err instanceof Alarm) throw inconsistent(err.message);
        throw err;
      }
      try {
        verifyConsistency(last.size, cp.size, proof, fromBase64(last.root), cp.root);
      } catch (err) {
        throw inconsistent(`REWRITE: the checkpoint at tree size ${cp.size} does not extend the one at tree size ${last.size}: ${(err as Error).message}`, { from: last.size, to: cp.size, hashes: proof });
      }
      result = { status: 'grew', message: `tree size ${last.size} -> ${cp.size}: consistent`, from: last.size, to: cp.size, checkpoint: { size: cp.size, root } };
    }
    let revocations: SeenRevocations | undefined;
    try {
      revocations = seenRevocations(cp);
    } catch (err) {
      if (!(err instanceof OriginProofError)) throw err;
      throw new Alarm('CHECKPOINT_INVALID', `the checkpoint at tree size ${cp.size}: ${err.message}`, last?.size, cp.size);
    }
    // The list comes with a checkpoint of the same tree size: checked with the keys this one was.
    const problem = await revocationProblem(o.gateway, followed ? [followed.current] : choice && 'keys' in choice ? choice.keys : keys, cp.origin, last?.revocations, revocations, root, requestOf(o));
    if (problem) throw new Alarm('CHECKPOINT_INVALID', `REVOCATIONS: ${problem}`, last?.size, cp.size);
    if (followed) {
      state.verifierKey = formatVerifierKey(followed.current.name, followed.current.publicKey);
      if (followed.next) state.nextVerifierKey = formatVerifierKey(followed.next.name, followed.next.publicKey);
      else delete state.nextVerifierKey;
    }
    state.origin = cp.origin;
    state.latest = { size: cp.size, root, note, seenAt, ...(revocations ? { revocations } : {}) };
    if (state.history[state.history.length - 1]?.size !== cp.size) state.history.push({ size: cp.size, root, seenAt });
  } catch (err) {
    if (!(err instanceof Alarm)) throw err;
    result = { status: 'alarm', code: err.code, message: err.message, ...(err.from !== undefined ? { from: err.from } : {}), ...(err.to !== undefined ? { to: err.to } : {}) };
    state.alarms.push({
      at: seenAt, code: err.code, message: err.message, ...(err.from !== undefined ? { from: err.from } : {}), ...(err.to !== undefined ? { to: err.to } : {}),
      ...(note !== undefined ? { note: note.slice(0, NOTE_EVIDENCE_CAP) } : {}), ...(err.consistency ? { consistency: err.consistency } : {}),
    });
  }
  saveState(o.statePath, state);
  return withOpenAlarms(result, state, acknowledged);
}

/** The round's result, turned into an alarm while the state file holds unacknowledged ones. */
function withOpenAlarms(result: MonitorResult, state: MonitorState, acknowledged: number | undefined): MonitorResult {
  const r: MonitorResult = { ...result, ...(acknowledged !== undefined ? { acknowledged } : {}) };
  const open = state.alarms.filter((a) => a.acknowledgedAt === undefined);
  const first = open[0];
  if (!first) return r;
  if (r.status === 'alarm') return { ...r, unacknowledged: open.length, firstUnacknowledged: first };
  const { checkpoint, status } = r;
  return {
    status: 'alarm', code: first.code, ...(first.from !== undefined ? { from: first.from } : {}), ...(first.to !== undefined ? { to: first.to } : {}),
    message: `${open.length} unacknowledged alarm(s), the first at ${first.at}: [${first.code}] ${first.message}; this round: ${r.message}`,
    ...(checkpoint ? { checkpoint } : {}), round: status, unacknowledged: open.length, firstUnacknowledged: first, ...(acknowledged !== undefined ? { acknowledged } : {}),
  };
}

export interface MonitorLoopOptions {
  /** One round, then return; a round that fails is thrown instead of retried. */
  once?: boolean;
  intervalMs: number;
  /** The wait between rounds (default: a timer). A test's may act between rounds, or throw to end the loop. */
  pause?: (ms: number) => Promise<void>;
}

/**
 * The command's rounds: until one reports an alarm (returned; the command exits 1), or with `once` a single round.
 * A round that fails (the gateway unreachable, another monitor holding the state file) is retried after the
 * interval; one whose own input is unusable (UnusableInput) ends the command. `acknowledge` applies once, to what
 * stood when the command was given: in the first round that gets to load the state file, also when that round then
 * fails (monitorOnce saves the acknowledgement before reaching the gateway). A round failing before it (the state
 * file held by another monitor) leaves it to the retry (it was lost: suspected by the verifier-CLI review).
 */
export async function monitorLoop(opts: MonitorOptions, loop: MonitorLoopOptions): Promise<MonitorResult> {
  const pause = loop.pause ?? ((ms: number) => new Promise<void>((res) => setTimeout(res, ms)));
  // What stood when the command was given: a retry must not take alarms raised since (by another monitor whose lock
  // made the first round fail, say).
  const upTo = opts.acknowledge ? { acknowledgeUpTo: new Date((opts.now ?? Date.now)()).toISOString() } : {};
  const round: MonitorOptions = { ...opts, ...upTo, onAcknowledged: () => delete round.acknowledge };
  for (;;) {
    let r: MonitorResult;
    try {
      r = await monitorOnce(round);
    } catch (err) {
      if (loop.once || err instanceof UnusableInput) throw err;
      process.stderr.write(`${new Date().toISOString()} monitor: ${printable((err as Error).message)} (retrying)\n`);
      await pause(loop.intervalMs);
      continue;
    }
    const at = new Date().toISOString();
    if (r.acknowledged !== undefined) process.stdout.write(`${at} acknowledged ${r.acknowledged} alarm(s) in ${opts.statePath}\n`);
    // The message may quote the gateway (its error message): printed escaped, so it cannot rewrite or hide the line.
    const line = `${at} ${r.status === 'alarm' ? `ALARM [${r.code}]` : r.status}: ${printable(r.message)}\n`;
    if (r.status === 'alarm') {
      process.stderr.write(line);
      process.stderr.write(`${at} ${r.unacknowledged} unacknowledged alarm(s) in ${opts.statePath}, the first at ${r.firstUnacknowledged!.at}; once someone has looked, run with --acknowledge\n`);
      return r;
    }
    process.stdout.write(line);
    if (loop.once) return r;
    await pause(loop.intervalMs);
  }
}

const MAX_INTERVAL_SECONDS = 86_400;

function loadTrust(path: string): TrustMaterial {
  let text: string;
  try {
    text = new TextDecoder().decode(readBoundedFile(path, TRUST_FILE_MAX_BYTES));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail('MALFORMED', code ? `cannot read trust file ${path}: ${code}` : `trust file ${(err as Error).message}`, 'trust');
  }
  let t: TrustMaterial;
  try {
    t = parseTrustText(text);
  } catch (err) {
    return fail('MALFORMED', `trust file ${path} is unusable: ${(err as Error).message}`, 'trust', err);
  }
  if (t.checkpointKeys.length === 0) fail('MALFORMED', `trust file ${path} has no checkpointKeys`, 'checkpointKeys');
  return t;
}

export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .description("follow a gateway's checkpoints; alarm (exit 1) on a checkpoint that does not verify or a log that was rewritten")
    .requiredOption('--gateway <url>', 'gateway base URL')
    .requiredOption('--state <file>', 'local state file (created if missing), one per gateway: the last checkpoint seen and the alarms')
    .option('--trust <file>', 'trust file with the checkpoint key(s); default: pin the key the gateway advertises on first use')
    .option('--interval <seconds>', 'seconds between rounds (at most a day)', '30')
    .option('--once', 'one round, then exit')
    .option('--acknowledge', "mark the state file's alarms acknowledged (someone has looked) before the first round; until then every round alarms")
    .option('--timeout <seconds>', `seconds each request to the gateway may take, answer included (default ${DEFAULT_TIMEOUT_SECONDS}); past it the round fails (with --once: exit 2; in the loop: retried)`)
    .action(async (o: { gateway: string; state: string; trust?: string; interval: string; once?: boolean; acknowledge?: boolean; timeout?: string }) => {
      const trust = o.trust ? loadTrust(o.trust) : undefined;
      const req = timeoutOption(o.timeout);
      const interval = Number(o.interval);
      // At most a day: setTimeout holds up to 2^31 - 1 ms (about 24.8 days) and fires after 1 ms beyond, which polled
      // the gateway in a tight loop.
      if (!Number.isFinite(interval) || interval <= 0 || interval > MAX_INTERVAL_SECONDS) {
        fail('MALFORMED', `--interval must be a positive number of seconds, at most ${MAX_INTERVAL_SECONDS} (a day), got ${o.interval}`, 'interval');
      }
      const opts: MonitorOptions = { gateway: o.gateway, statePath: o.state, ...(trust ? { trust } : {}), ...(o.acknowledge ? { acknowledge: true } : {}), ...req };
      const r = await monitorLoop(opts, { intervalMs: interval * 1000, ...(o.once ? { once: true } : {}) });
      if (r.status === 'alarm') process.exitCode = 1;
    });
}
