/**
 * verifyBundleFile's checks (checkBundle) run in a dedicated Web Worker (web/verify-worker.ts), so that a large
 * bundle does not hold the page's thread. Where Workers are unavailable, or the worker cannot be started or fails
 * (its script not cached offline, say), the same checks run on the page's thread, with the same verdict.
 */
import type { TrustMaterial } from '../protocol/trust.js';
import type { Verdict } from '../protocol/verify-bundle.js';
import { checkBundle, type BundleChecker } from './verification.js';
import type { CheckMessage } from './verify-worker.js';

type Answer = { id: number; verdict: Verdict } | { id: number; error: string };

/** The worker, once started; null: none can be had (no Worker, or it failed), checks run on the page's thread. */
let worker: Worker | null | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (v: Verdict) => void; reject: (err: Error) => void }>();

function stopWorker(why: string): void {
  worker?.terminate();
  worker = null;
  for (const p of pending.values()) p.reject(new Error(why));
  pending.clear();
}

function theWorker(): Worker | null {
  if (worker !== undefined) return worker;
  if (typeof Worker === 'undefined') return (worker = null);
  try {
    // Vite bundles the worker module and its imports as an asset of its own (the service worker keeps it for offline).
    worker = new Worker(new URL('./verify-worker.ts', import.meta.url), { type: 'module', name: 'originproof-verify' });
  } catch {
    return (worker = null);
  }
  worker.onmessage = (ev: MessageEvent<Answer>) => {
    const p = pending.get(ev.data.id);
    if (!p) return;
    pending.delete(ev.data.id);
    if ('verdict' in ev.data) p.resolve(ev.data.verdict);
    else p.reject(new Error(ev.data.error));
  };
  worker.onerror = (ev) => {
    ev.preventDefault(); // not an error of the page: the checks run here instead
    stopWorker(ev.message || 'the verification worker failed');
  };
  worker.onmessageerror = () => stopWorker('a verdict could not be read');
  return worker;
}

/** A BundleChecker for anchors parsed from `trustText` (`trust`): in the worker, else on the page's thread. */
export function checkerFor(trustText: string, trust: TrustMaterial): BundleChecker {
  return async (request) => {
    const w = theWorker();
    if (w) {
      try {
        return await new Promise<Verdict>((resolve, reject) => {
          const id = ++nextId;
          pending.set(id, { resolve, reject });
          w.postMessage({ id, trustText, request } satisfies CheckMessage);
        });
      } catch {
        // The worker failed on this bundle (or could not be started): checked here instead, same checks.
      }
    }
    return checkBundle(request, trust);
  };
}
