/**
 * The page's verification worker (a dedicated Web Worker, started by web/verify-in-worker.ts): runs verifyBundleFile
 * whole off the page's thread, with its requests to the gateway: the bundle decoded, the kept checkpoint's
 * consistency proof and the log's revocation list fetched, read and checked, every signature and proof checked. On
 * the page's thread a bundle at MAX_BUNDLE_BYTES of repeated certificates held it ~0.2-0.4 s, and a revocation list of
 * 64 MiB seconds (its fetch alone: ~0.1-0.2 s per 16 MiB of answer in tasks of the page's, then its decoding ~2.5 s
 * in one task): no scrolling, no typing. Made here, the list's bytes never reach the page's thread.
 * The requests' time limits run on the page's clock: the worker asks the page for each (see Deadline). The trust
 * anchors come as the trust file's text and are parsed here (the parsed material holds functions, which cannot be
 * sent); the page parsed the same text, so the outcome is the one the page would have reached.
 */
import { parseTrustText, type TrustMaterial } from '../protocol/trust.js';
import { consistencyProofFetcher, gatewayGet, revocationLogFetcher, type Deadline, type GatewayGet } from './gateway-answers.js';
import { verifyBundleFile, type KeptCheckpoint, type Outcome } from './verification.js';

/**
 * What the page posts: a bundle to verify (`base`: the page's base URL, which the gateway's paths are relative to), or
 * a time limit the worker asked for that has passed.
 */
export type ToWorker =
  | { kind: 'verify'; id: number; base: string; trustText: string; bytes: Uint8Array; kept: KeptCheckpoint | null; maxClockSkewSeconds?: number }
  | { kind: 'expired'; deadline: number };

/** What the worker posts: a time limit to start or stop on the page's clock, or a verification's outcome (or why it has none). */
export type FromWorker =
  | { kind: 'startDeadline'; deadline: number }
  | { kind: 'stopDeadline'; deadline: number }
  | { kind: 'outcome'; id: number; outcome: Outcome }
  | { kind: 'error'; id: number; error: string };

/** The worker's global scope (lib "WebWorker" is not loaded with "DOM"): what this file uses of it. */
const scope = self as unknown as { onmessage: ((ev: MessageEvent<ToWorker>) => void) | null; postMessage(message: FromWorker): void };

/** The last anchors parsed: the page sends the same text for every bundle until its anchors change. */
let parsed: { text: string; trust: TrustMaterial } | undefined;

/** Time limits running on the page's clock, by number, until they pass or are stopped. */
const deadlines = new Map<number, () => void>();
let nextDeadline = 0;

const pageDeadline: Deadline = (expire) => {
  const deadline = ++nextDeadline;
  deadlines.set(deadline, expire);
  scope.postMessage({ kind: 'startDeadline', deadline });
  return () => {
    if (deadlines.delete(deadline)) scope.postMessage({ kind: 'stopDeadline', deadline });
  };
};

async function verify(m: Extract<ToWorker, { kind: 'verify' }>): Promise<void> {
  try {
    if (parsed?.text !== m.trustText) parsed = { text: m.trustText, trust: parseTrustText(m.trustText) };
    const get: GatewayGet = (path, max) => gatewayGet(new URL(path, m.base), max, pageDeadline);
    const outcome = await verifyBundleFile(m.bytes, parsed.trust, m.kept, consistencyProofFetcher(get), {
      fetchRevocationLog: revocationLogFetcher(get),
      ...(m.maxClockSkewSeconds !== undefined ? { maxClockSkewSeconds: m.maxClockSkewSeconds } : {}),
    });
    scope.postMessage({ kind: 'outcome', id: m.id, outcome });
  } catch (err) {
    // Anything that goes wrong here (an outcome that cannot be sent back, say) is verified on the page's thread instead.
    scope.postMessage({ kind: 'error', id: m.id, error: String(err) });
  }
}

scope.onmessage = (ev) => {
  const m = ev.data;
  if (m.kind === 'verify') return void verify(m);
  const expire = deadlines.get(m.deadline);
  deadlines.delete(m.deadline);
  expire?.();
};
