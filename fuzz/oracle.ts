/**
 * What every fuzz case must come to: a rejection with a code from the closed ErrorCode union (protocol/errors.ts)
 * that a device can decode off its rejections topic, or acceptance of bytes identical to the valid original.
 * Anything else (an internal error, an unknown code, an accepted mutant, an undecodable rejection) is a finding.
 */
import { bytesEqual, toHex } from '../protocol/bytes.js';
import { isErrorCode, OriginProofError } from '../protocol/errors.js';
import { decodeRejection, encodeRejection } from '../protocol/receipt.js';
import type { Outcome } from '../gateway/pipeline.js';

export type Judgement = { ok: true; code: string } | { ok: false; problem: string };

/** `code` is the rejection code, or ACCEPTED_IDENTICAL when the mutant happens to be the original. */
export const ACCEPTED_IDENTICAL = 'accepted (identical bytes)';

export function judgeOutcome(outcome: Outcome, bytes: Uint8Array, original: Uint8Array): Judgement {
  if (outcome.ok) {
    return bytesEqual(bytes, original) ? { ok: true, code: ACCEPTED_IDENTICAL } : { ok: false, problem: `accepted a mutant: ${toHex(bytes)}` };
  }
  const err = outcome.error;
  if (!(err instanceof OriginProofError) || !isErrorCode(err.code)) return { ok: false, problem: `rejection without a known code: ${String(err)}` };
  // The pipeline turns an unexpected throw into UNAVAILABLE with the throw as its cause; nothing here is overload.
  if (err.code === 'UNAVAILABLE') return { ok: false, problem: `internal error: ${String((err.cause as Error | undefined)?.stack ?? err.message)}` };
  try {
    const back = decodeRejection(encodeRejection({ seq: outcome.seq, code: err.code, message: err.message, path: err.path }));
    if (back.code !== err.code) return { ok: false, problem: `rejection decodes to ${back.code}, not ${err.code}` };
  } catch (e) {
    return { ok: false, problem: `a device cannot decode the ${err.code} rejection: ${(e as Error).message}` };
  }
  return { ok: true, code: err.code };
}

/** Counts by key, printed largest first. */
export class Tally {
  readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
  lines(): string[] {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${String(v).padStart(9)}  ${k}`);
  }
}

/**
 * What every HTTP answer to a hostile request must be: not a 5xx, and for a 4xx an error body `{code, message}` whose
 * code is in the API's registry (gateway/http/error-registry.ts). HEAD answers have no body to check.
 */
export function judgeHttp(method: string, status: number, body: string, knownCodes: readonly string[]): Judgement {
  if (status >= 500) return { ok: false, problem: `HTTP ${status}: ${body.slice(0, 300)}` };
  if (status < 400 || method === 'HEAD') return { ok: true, code: String(status) };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, problem: `HTTP ${status} with a body that is not JSON: ${body.slice(0, 200)}` };
  }
  const code = (parsed as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !knownCodes.includes(code)) return { ok: false, problem: `HTTP ${status} without a registered code: ${body.slice(0, 200)}` };
  if (typeof (parsed as { message?: unknown }).message !== 'string') return { ok: false, problem: `HTTP ${status} ${code} without a message` };
  return { ok: true, code: `${status} ${code}` };
}
