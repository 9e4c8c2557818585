/**
 * `originproof fetch-bundle --gateway URL --entry N [--since SIZE] [--tree-size SIZE] [--out FILE] [--format cbor|json]`:
 * download one entry's proof bundle (GET /v1/entries/N/bundle) for offline `verify`. With --since, the bundle
 * carries a consistency proof from SIZE (bundle key 9) so `verify --since` needs no network. Nothing is trusted
 * here: verification is `originproof verify`'s job. Uses global fetch (Node 20).
 */
import type { Command } from 'commander';
import { uintOption } from '../options.js';
import { fail, OriginProofError } from '../../protocol/errors.js';
import { decodeProofBundleAny, type ProofBundle } from '../../protocol/bundle.js';
import { writeOutput } from '../files.js';
import { printable } from '../printable.js';

export interface FetchBundleOptions {
  gateway: string;
  entry: number | string;
  since?: number | string;
  treeSize?: number | string;
  format?: 'cbor' | 'json';
  out?: string;
  /** Replace `out` if it exists (never a secret key file). */
  force?: boolean;
  /** Seconds the request may take, answer included (default DEFAULT_TIMEOUT_SECONDS). */
  timeout?: number | string;
}

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

/** A gateway's 2xx answer, read whole (at most MAX_ANSWER_BYTES) within the request's time. */
export interface GatewayAnswer {
  /** The URL that answered (after redirects). */
  url: string;
  status: number;
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

/**
 * GET a gateway path and read its answer whole, within the request's time limit (UNAVAILABLE past it: a gateway that
 * never answers, or never finishes, must not hold a command, or the monitor's loop, forever) and at most
 * MAX_ANSWER_BYTES (TOO_LARGE). On a non-2xx answer, throw with the gateway's error code and message (and `status`).
 */
export async function gatewayGet(gateway: string, path: string, req: GatewayRequest = {}): Promise<GatewayAnswer> {
  const url = new URL(path, gateway.endsWith('/') ? gateway : `${gateway}/`);
  const what = `GET ${url.pathname}${url.search}`;
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_SECONDS * 1000;
  const signal = AbortSignal.timeout(timeoutMs);
  const late = () => fail('UNAVAILABLE', `${url.origin} did not answer ${what} within ${timeoutMs / 1000} s`, 'gateway');
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (err) {
    if (signal.aborted) return late();
    return fail('UNAVAILABLE', `cannot reach ${url.origin}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`, 'gateway');
  }
  let bytes: Uint8Array;
  try {
    bytes = await readCapped(res, MAX_ANSWER_BYTES, `the answer to ${what}`);
  } catch (err) {
    if (err instanceof OriginProofError) throw err;
    if (signal.aborted) return late();
    return fail('UNAVAILABLE', `the answer to ${what} was cut off: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`, 'gateway');
  }
  const text = () => new TextDecoder().decode(bytes);
  if (!res.ok) {
    let detail = text();
    try {
      const j = JSON.parse(detail) as { code?: string; message?: string };
      if (j.message) detail = `${j.code ? `[${j.code}] ` : ''}${j.message}`;
    } catch {
      /* not JSON: keep the text */
    }
    // The gateway's words, quoted: escaped so that they cannot add lines or control the terminal (printable.ts).
    const err = new Error(`${what} answered ${res.status}: ${printable(String(detail).slice(0, 300))}`) as Error & { status: number };
    err.status = res.status;
    throw err;
  }
  const json = (): unknown => {
    try {
      return JSON.parse(text()) as unknown;
    } catch {
      return fail('MALFORMED', `${what} answered ${res.status} with no JSON (${JSON.stringify(text().slice(0, 80))})`, 'gateway');
    }
  };
  return { url: res.url, status: res.status, bytes, text, json };
}

/** Whether bundle bytes are the JSON view (first non-blank character `{`, as decodeProofBundleAny tells them apart). */
function isJsonView(bytes: Uint8Array): boolean {
  const i = bytes.findIndex((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0xef && b !== 0xbb && b !== 0xbf);
  return bytes[i] === 0x7b;
}

/** Fetch the bundle bytes (CBOR or the JSON view's UTF-8), writing them to `out` when given. */
export async function fetchBundle(o: FetchBundleOptions): Promise<Uint8Array> {
  const entry = uintOption(o.entry, 'entry', 0);
  const format = o.format ?? 'cbor';
  if (format !== 'cbor' && format !== 'json') fail('MALFORMED', '--format must be cbor or json', 'format');
  const q = new URLSearchParams({ format });
  const since = o.since === undefined ? undefined : uintOption(o.since, 'since', 1);
  const treeSize = o.treeSize === undefined ? undefined : uintOption(o.treeSize, 'tree-size', 1);
  if (since !== undefined) q.set('since', String(since));
  if (treeSize !== undefined) q.set('treeSize', String(treeSize));
  const res = await gatewayGet(o.gateway, `v1/entries/${entry}/bundle?${q}`, timeoutOption(o.timeout));
  let bytes = res.bytes;
  // A proof bundle, or nothing is written (a web server's or proxy's 200 page is not one): no trust is needed to
  // decode it; `verify` checks it.
  let bundle: ProofBundle;
  try {
    bundle = decodeProofBundleAny(bytes);
  } catch (err) {
    return fail('MALFORMED', `${res.url} answered with no proof bundle (${(err as Error).message}): is --gateway an OriginProof gateway's base URL?`, 'gateway', err);
  }
  // And the one asked for: `verify` cannot tell which entry was wanted, so another entry's bundle (valid in itself)
  // written here would be verified VALID in its place.
  const answered = isJsonView(bytes) ? 'json' : 'cbor';
  const wrong = (what: string) => fail('MALFORMED', `${res.url} answered with ${what}: not the bundle asked for, not written`, 'gateway');
  if (answered !== format) wrong(`the ${answered === 'json' ? 'JSON view' : 'CBOR'} of a bundle for --format ${format}`);
  if (bundle.index !== entry) wrong(`the bundle of entry ${bundle.index} for --entry ${entry}`);
  if (treeSize !== undefined && bundle.treeSize !== treeSize) wrong(`a bundle at tree size ${bundle.treeSize} for --tree-size ${treeSize}`);
  if (since !== undefined && bundle.consistency?.fromSize !== since) {
    wrong(bundle.consistency ? `a consistency proof from tree size ${bundle.consistency.fromSize} for --since ${since}` : `no consistency proof for --since ${since}`);
  }
  if (format === 'json') bytes = new TextEncoder().encode(`${JSON.stringify(JSON.parse(new TextDecoder().decode(bytes)), null, 2)}\n`);
  if (o.out) writeOutput(o, bytes);
  return bytes;
}

export function registerFetchBundle(program: Command): void {
  program
    .command('fetch-bundle')
    .description("download an entry's proof bundle from a gateway, for offline `verify`")
    .requiredOption('--gateway <url>', 'gateway base URL, e.g. http://localhost:8080')
    .requiredOption('--entry <n>', 'log index of the entry')
    .option('--since <size>', 'include a consistency proof from this tree size (for verify --since)')
    .option('--tree-size <size>', 'prove against the checkpoint at this (later) tree size')
    .option('--format <cbor|json>', 'bundle encoding', 'cbor')
    .option('--out <file>', 'write to this file (default: stdout)')
    .option('--timeout <seconds>', `seconds the request may take, answer included (default ${DEFAULT_TIMEOUT_SECONDS})`)
    .action(async (o: FetchBundleOptions) => {
      const bytes = await fetchBundle(o);
      if (o.out) process.stderr.write(`wrote ${bytes.length} bytes to ${o.out}\n`);
      else process.stdout.write(bytes);
    });
}
