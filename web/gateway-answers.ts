/**
 * Requests to this gateway, and reading what it answers for a verification (a consistency proof, the log's revocation
 * list), without the DOM: on the page's thread, and in the page's verification worker (web/verify-worker.ts), which
 * makes a verification's requests itself so that their bytes never reach the page's thread. The readers take a
 * GatewayGet, to run over either.
 */
import { fromBase64 } from '../protocol/bytes.js';
import { printable } from '../protocol/printable.js';
import { collectRevocationListing, parseRevocationListing, revocationListingPath, type RevocationListingQuery } from '../protocol/revocation-listing.js';
import { noAnswerOf, type NoAnswer, type ProofFetcher, type RevocationLogFetcher } from './verification.js';

/**
 * How long one request to the gateway may take, answer included (the CLI's default --timeout): past it the page
 * takes the gateway as unable to answer now. Without it a gateway that accepted the connection and never answered
 * kept the page on "Verifying…" for good, even for a dropped file (found by the web review).
 */
export const GATEWAY_TIMEOUT_MS = 30_000;

/**
 * The most bytes of one answer read from the gateway (the CLI's MAX_ANSWER_BYTES): a page of the revocation list is a
 * few megabytes; a bundle, at most MAX_BUNDLE_BYTES.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** Why a request got no answer to read: 'offline' (no connection), 'timeout' (none in time), 'tooLarge' (over the cap). */
export class NoGatewayAnswer extends Error {
  constructor(readonly why: 'offline' | 'timeout' | 'tooLarge', message: string) {
    super(message);
  }
}

/** An answer read whole (at most `max` bytes) within GATEWAY_TIMEOUT_MS. */
export interface GatewayAnswer {
  ok: boolean;
  status: number;
  headers: Headers;
  bytes: Uint8Array;
}

/** GET `path` (relative to the page) of this gateway, read whole: the answer, or NoGatewayAnswer. */
export type GatewayGet = (path: string, max?: number) => Promise<GatewayAnswer>;

/**
 * A request's time limit: calls `expire` once GATEWAY_TIMEOUT_MS have passed, unless the function it returns is
 * called first. The page's is a timer on its thread; its worker's asks the page for one (web/verify-in-worker.ts), so
 * that every time limit runs on the page's clock.
 */
export type Deadline = (expire: () => void) => () => void;

export const timerDeadline: Deadline = (expire) => {
  const timer = setTimeout(expire, GATEWAY_TIMEOUT_MS);
  return () => clearTimeout(timer);
};

/** GET `url` of this gateway: the answer read whole, or NoGatewayAnswer. */
export async function gatewayGet(url: URL, max = MAX_ANSWER_BYTES, deadline: Deadline = timerDeadline): Promise<GatewayAnswer> {
  const abort = new AbortController();
  let timedOut = false;
  const stopDeadline = deadline(() => {
    timedOut = true;
    abort.abort();
  });
  try {
    const res = await fetch(url, { cache: 'no-store', signal: abort.signal });
    const tooLarge = () => new NoGatewayAnswer('tooLarge', `TOO_LARGE: the answer is larger than ${max} bytes: not read`);
    if (Number(res.headers.get('content-length')) > max) {
      abort.abort();
      throw tooLarge();
    }
    const chunks: Uint8Array[] = [];
    let length = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        length += value.length;
        if (length > max) {
          abort.abort();
          throw tooLarge();
        }
        chunks.push(value);
      }
    }
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    return { ok: res.ok, status: res.status, headers: res.headers, bytes };
  } catch (err) {
    if (err instanceof NoGatewayAnswer) throw err;
    if (timedOut) throw new NoGatewayAnswer('timeout', `no answer within ${GATEWAY_TIMEOUT_MS / 1000} s`);
    throw new NoGatewayAnswer('offline', (err as Error).message);
  } finally {
    stopDeadline();
  }
}

export const textOf = (a: GatewayAnswer): string => new TextDecoder().decode(a.bytes);
/** The answer as JSON; undefined when it is none (an error answer need not be JSON). */
export function jsonOf(a: GatewayAnswer): unknown {
  try {
    return JSON.parse(textOf(a));
  } catch {
    return undefined;
  }
}
/** A gateway's error answer as one line: its code and message (shown escaped: it is the gateway's text). */
export function errorOf(a: GatewayAnswer): string {
  const body = (jsonOf(a) ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof body.code === 'string' ? body.code : `HTTP ${a.status}`;
  return printable(typeof body.message === 'string' && body.message ? `${code}: ${body.message}` : code);
}

/** A request that got no usable answer, as NoAnswer: a timeout is "cannot answer now", as 503 is; too large, a refusal. */
export const noAnswerOfError = (err: unknown): NoAnswer =>
  err instanceof NoGatewayAnswer ? (err.why === 'offline' ? 'offline' : err.why === 'timeout' ? 'unavailable' : 'refused') : 'refused';

/** Consistency proofs (GET /v1/proofs/consistency) from the answers `get` has. */
export function consistencyProofFetcher(get: GatewayGet): ProofFetcher {
  return async (from, to) => {
    let res: GatewayAnswer;
    try {
      res = await get(`v1/proofs/consistency?from=${from}&to=${to}`);
    } catch (err) {
      return noAnswerOfError(err);
    }
    if (!res.ok) return noAnswerOf(res.status);
    try {
      const body = jsonOf(res) as { proof: string[] };
      return body.proof.map((p) => fromBase64(p));
    } catch {
      return 'refused';
    }
  };
}

/** A page of GET /v1/revocations could not be had: no network, or the gateway said no. */
class PageUnavailable extends Error {
  constructor(readonly why: NoAnswer) {
    super(why);
  }
}

/**
 * The log's whole revocation list (every page, GET /v1/revocations) with the checkpoint committing to it, from the
 * answers `get` has; checked by the verifier, not trusted. The pages hold at most what `bound` allows for the first
 * page's checkpoint (the gateway's count does not bound them); with no bound, only the first page is taken.
 */
export function revocationLogFetcher(get: GatewayGet): RevocationLogFetcher {
  const revocationPage = async (q: RevocationListingQuery): Promise<unknown> => {
    let res: GatewayAnswer;
    try {
      res = await get(revocationListingPath(q));
    } catch (err) {
      throw new PageUnavailable(noAnswerOfError(err));
    }
    if (!res.ok) throw new PageUnavailable(noAnswerOf(res.status));
    return JSON.parse(textOf(res));
  };
  return async (bound) => {
    try {
      const first = parseRevocationListing(await revocationPage({}));
      const checkpoint = first.checkpoint;
      if (checkpoint === null) return 'refused';
      const most = bound ? bound(checkpoint) : Number.POSITIVE_INFINITY;
      if (most === undefined) return { checkpoint, revocations: first.revocations };
      // The first page, decoded once (it may be tens of megabytes); the others are asked for at its tree size.
      const { revocations } = await collectRevocationListing(revocationPage, {}, most, first);
      return { checkpoint, revocations };
    } catch (err) {
      return err instanceof PageUnavailable ? err.why : 'refused';
    }
  };
}
