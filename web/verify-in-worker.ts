/**
 * verifyBundleFile run in a dedicated Web Worker (web/verify-worker.ts), requests to the gateway included, so that
 * neither a large bundle nor a large revocation list holds the page's thread: the list's bytes are fetched, decoded
 * and checked there, and never reach the page. The page keeps the requests' time limits on its own clock (the worker
 * asks it for each). Where Workers are unavailable, or the worker cannot be started or fails (its script not cached
 * offline, say), verifyBundleFile runs on the page's thread, with the same outcome.
 */
import type { TrustMaterial } from '../protocol/trust.js';
import { consistencyProofFetcher, GATEWAY_TIMEOUT_MS, revocationLogFetcher } from './gateway-answers.js';
import { pageGet } from './storage.js';
import { verifyBundleFile, type KeptCheckpoint, type Outcome } from './verification.js';
import type { FromWorker, ToWorker } from './verify-worker.js';
import verifyWorkerUrl from 'virtual:verify-worker-url';

/** The worker, once started; null: none can be had (no Worker, or it failed), verification runs on the page's thread. */
let worker: Worker | null | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (o: Outcome) => void; reject: (err: Error) => void }>();
/** The worker's time limits running here, by its number for each. */
const deadlines = new Map<number, ReturnType<typeof setTimeout>>();

function stopWorker(why: string): void {
  worker?.terminate();
  worker = null;
  for (const timer of deadlines.values()) clearTimeout(timer);
  deadlines.clear();
  for (const p of pending.values()) p.reject(new Error(why));
  pending.clear();
}

function theWorker(): Worker | null {
  if (worker !== undefined) return worker;
  if (typeof Worker === 'undefined') return (worker = null);
  let w: Worker;
  try {
    // The worker's entry, built with the page (web/vite.config.ts): it imports the chunk of code it shares with the
    // page (the service worker keeps both for offline).
    w = new Worker(new URL(verifyWorkerUrl, import.meta.url), { type: 'module', name: 'originproof-verify' });
  } catch {
    return (worker = null);
  }
  w.onmessage = (ev: MessageEvent<FromWorker>) => {
    const m = ev.data;
    if (m.kind === 'startDeadline') {
      const timer = setTimeout(() => {
        deadlines.delete(m.deadline);
        w.postMessage({ kind: 'expired', deadline: m.deadline } satisfies ToWorker);
      }, GATEWAY_TIMEOUT_MS);
      deadlines.set(m.deadline, timer);
      return;
    }
    if (m.kind === 'stopDeadline') {
      clearTimeout(deadlines.get(m.deadline));
      deadlines.delete(m.deadline);
      return;
    }
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.kind === 'outcome') p.resolve(m.outcome);
    else p.reject(new Error(m.error));
  };
  w.onerror = (ev) => {
    ev.preventDefault(); // not an error of the page: verification runs here instead
    stopWorker(ev.message || 'the verification worker failed');
  };
  w.onmessageerror = () => stopWorker('an outcome could not be read');
  return (worker = w);
}

/**
 * verifyBundleFile for the page, with anchors parsed from `trustText` (`trust`) and the gateway's consistency proofs and
 * revocation list: in the worker, else on the page's thread.
 */
export async function verifyInWorker(
  bytes: Uint8Array, trustText: string, trust: TrustMaterial, kept: KeptCheckpoint | null, opts: { maxClockSkewSeconds?: number } = {},
): Promise<Outcome> {
  const w = theWorker();
  if (w) {
    try {
      return await new Promise<Outcome>((resolve, reject) => {
        const id = ++nextId;
        pending.set(id, { resolve, reject });
        // The bundle's bytes are copied (the page keeps them, to verify them again if the anchors change): at most 1 MiB.
        w.postMessage({ kind: 'verify', id, base: document.baseURI, trustText, bytes, kept, ...opts } satisfies ToWorker);
      });
    } catch {
      // The worker failed on this bundle (or could not be started): verified here instead, the same code.
    }
  }
  return verifyBundleFile(bytes, trust, kept, consistencyProofFetcher(pageGet), { fetchRevocationLog: revocationLogFetcher(pageGet), ...opts });
}
