/**
 * The page's verification worker (a dedicated Web Worker, started by web/verify-in-worker.ts): runs checkBundle, the
 * signature and proof checks of verifyBundleFile, off the page's thread. A bundle at MAX_BUNDLE_BYTES of repeated
 * certificates takes ~0.2-0.4 s to check, which held the page (no scrolling, no typing) on the main thread.
 * The trust anchors come as the trust file's text and are parsed here (the parsed material holds functions, which
 * cannot be sent); the page parsed the same text, so the verdict is the one the page would have reached.
 */
import { parseTrustText, type TrustMaterial } from '../protocol/trust.js';
import { checkBundle, type BundleCheckRequest } from './verification.js';

export interface CheckMessage {
  id: number;
  trustText: string;
  request: BundleCheckRequest;
}

/** The worker's global scope (lib "WebWorker" is not loaded with "DOM"): what this file uses of it. */
const scope = self as unknown as { onmessage: ((ev: MessageEvent<CheckMessage>) => void) | null; postMessage(message: unknown): void };

/** The last anchors parsed: the page sends the same text for every bundle until its anchors change. */
let parsed: { text: string; trust: TrustMaterial } | undefined;

scope.onmessage = (ev) => {
  const { id, trustText, request } = ev.data;
  try {
    if (parsed?.text !== trustText) parsed = { text: trustText, trust: parseTrustText(trustText) };
    scope.postMessage({ id, verdict: checkBundle(request, parsed.trust) });
  } catch (err) {
    // Anything that goes wrong here (a verdict that cannot be sent back, say) is checked on the page's thread instead.
    scope.postMessage({ id, error: String(err) });
  }
};
