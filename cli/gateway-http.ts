/**
 * The CLI's requests to a gateway (fetch-bundle, fetch-revocations, monitor, register, trust): each within a time
 * limit, answer included (UNAVAILABLE past it: a gateway that never answers, or never finishes, must not hold a
 * command, or the monitor's loop, forever), and its answer read up to MAX_ANSWER_BYTES (TOO_LARGE). One place for
 * both, since the verifier-CLI review found the GET commands without them and `register`'s POST then had its own copy.
 */
import { fail, OriginProofError } from '../protocol/errors.js';
import { uintOption } from './options.js';
import { printable } from '../protocol/printable.js';

/** How long one request to a gateway may take, answer included, unless `--timeout` says otherwise. */
export const DEFAULT_TIMEOUT_SECONDS = 30;
/**
 * The most bytes of one answer read from a gateway. A bundle is a few kilobytes, a page of the revocation list (1,000
 * statements with their certificates) a few megabytes; a gateway that sends more is cut off, not buffered whole.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** A day: longer does not fit a timer (and is no limit). */
const MAX_TIMEOUT_SECONDS = 86_400;

/** Per request: how long it may take (default DEFAULT_TIMEOUT_SECONDS), answer included. */
export interface GatewayRequest {
  timeoutMs?: number;
}

/** A gateway's answer, read whole (at most MAX_ANSWER_BYTES) within the request's time. */
export interface GatewayAnswer {
  /** The URL that answered (after redirects). */
  url: string;
  status: number;
  ok: boolean;
  bytes: Uint8Array;
  text(): string;
  /** The answer as JSON; MALFORMED when it is none (a 200 answer is the gateway's word: not JSON, not a network error). */
  json(): unknown;
}

/** `--timeout SECONDS` (whole seconds, 1 to a day) as a request option; absent: the default. */
export function timeoutOption(v: number | string | undefined): GatewayRequest {
  if (v === undefined) return {};
  const s = uintOption(v, 'timeout', 1);
  if (s > MAX_TIMEOUT_SECONDS) fail('MALFORMED', `--timeout must be at most ${MAX_TIMEOUT_SECONDS} seconds, got ${s}`, 'timeout');
  return { timeoutMs: s * 1000 };
}

/** The body, at most `max` bytes (TOO_LARGE beyond, without reading the rest). */
export async function readCapped(res: Response, max: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length'));
  const tooLarge = () => fail('TOO_LARGE', `${what} is larger than ${max} bytes: not read`, 'gateway');
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return tooLarge();
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > max) {
      await reader.cancel().catch(() => undefined);
      return tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/** Why fetch failed, as undici says it: the cause (a refused connection, a TLS certificate not trusted), not "fetch failed". */
const reason = (err: unknown): string => (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;

/** A path under the gateway's base URL (with or without its trailing slash). */
export function gatewayUrl(gateway: string, path = ''): URL {
  let url: URL | undefined;
  try {
    url = new URL(path, gateway.endsWith('/') ? gateway : `${gateway}/`);
  } catch {
    /* named below */
  }
  // Checked here, not left to fetch: `127.0.0.1:8080` was a bare "Invalid URL", `localhost:8080` a scheme "localhost:".
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    fail('MALFORMED', `--gateway must be the gateway's http:// or https:// base URL, e.g. http://127.0.0.1:8080; got ${printable(gateway)}`, 'gateway');
  }
  return url;
}

/**
 * Send a request to a gateway path and read its answer whole, whatever its status, within the request's time limit
 * and size cap. `post`: a JSON body to POST instead of a GET.
 */
export async function gatewayRequest(gateway: string, path: string, req: GatewayRequest = {}, post?: unknown): Promise<GatewayAnswer> {
  const url = gatewayUrl(gateway, path);
  const what = `${post === undefined ? 'GET' : 'POST'} ${url.pathname}${url.search}`;
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_SECONDS * 1000;
  const signal = AbortSignal.timeout(timeoutMs);
  const late = () => fail('UNAVAILABLE', `${url.origin} did not answer ${what} within ${timeoutMs / 1000} s`, 'gateway');
  let res: Response;
  try {
    res = await fetch(url, post === undefined ? { signal } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(post), signal });
  } catch (err) {
    if (signal.aborted) return late();
    return fail('UNAVAILABLE', `cannot reach ${url.origin}: ${reason(err)}`, 'gateway');
  }
  let bytes: Uint8Array;
  try {
    bytes = await readCapped(res, MAX_ANSWER_BYTES, `the answer to ${what}`);
  } catch (err) {
    if (err instanceof OriginProofError) throw err;
    if (signal.aborted) return late();
    return fail('UNAVAILABLE', `the answer to ${what} was cut off: ${reason(err)}`, 'gateway');
  }
  const text = () => new TextDecoder().decode(bytes);
  const json = (): unknown => {
    try {
      return JSON.parse(text()) as unknown;
    } catch {
      return fail('MALFORMED', `${what} answered ${res.status} with no JSON (${JSON.stringify(text().slice(0, 80))})`, 'gateway');
    }
  };
  return { url: res.url, status: res.status, ok: res.ok, bytes, text, json };
}

/**
 * GET a gateway path (gatewayRequest). On a non-2xx answer, throw with the gateway's error code and message (and
 * `status`).
 */
export async function gatewayGet(gateway: string, path: string, req: GatewayRequest = {}): Promise<GatewayAnswer> {
  const answer = await gatewayRequest(gateway, path, req);
  if (answer.ok) return answer;
  let detail = answer.text();
  try {
    const j = JSON.parse(detail) as { code?: string; message?: string };
    if (j.message) detail = `${j.code ? `[${j.code}] ` : ''}${j.message}`;
  } catch {
    /* not JSON: keep the text */
  }
  const url = gatewayUrl(gateway, path);
  // The gateway's words, quoted: escaped so that they cannot add lines or control the terminal (printable.ts).
  const err = new Error(`GET ${url.pathname}${url.search} answered ${answer.status}: ${printable(String(detail).slice(0, 300))}`) as Error & { status: number };
  err.status = answer.status;
  throw err;
}
