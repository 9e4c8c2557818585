/**
 * `originproof fetch-bundle --gateway URL --entry N [--since SIZE] [--tree-size SIZE] [--out FILE] [--format cbor|json]`:
 * download one entry's proof bundle (GET /v1/entries/N/bundle) for offline `verify`. With --since, the bundle
 * carries a consistency proof from SIZE (bundle key 9) so `verify --since` needs no network. Nothing is trusted
 * here: verification is `originproof verify`'s job. Uses global fetch (Node 20).
 */
import type { Command } from 'commander';
import { uintOption } from '../options.js';
import { fail } from '../../protocol/errors.js';
import { decodeProofBundleAny } from '../../protocol/bundle.js';
import { writeOutput } from '../files.js';

export interface FetchBundleOptions {
  gateway: string;
  entry: number | string;
  since?: number | string;
  treeSize?: number | string;
  format?: 'cbor' | 'json';
  out?: string;
  /** Replace `out` if it exists (never a secret key file). */
  force?: boolean;
}

/** GET a gateway path; on a non-2xx answer, throw with the gateway's error code and message. */
export async function gatewayGet(gateway: string, path: string): Promise<Response> {
  const url = new URL(path, gateway.endsWith('/') ? gateway : `${gateway}/`);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    return fail('UNAVAILABLE', `cannot reach ${url.origin}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`, 'gateway');
  }
  if (!res.ok) {
    const text = await res.text();
    let detail = text;
    try {
      const j = JSON.parse(text) as { code?: string; message?: string };
      if (j.message) detail = `${j.code ? `[${j.code}] ` : ''}${j.message}`;
    } catch {
      /* not JSON: keep the text */
    }
    const err = new Error(`GET ${url.pathname}${url.search} answered ${res.status}: ${detail.slice(0, 300)}`) as Error & { status: number };
    err.status = res.status;
    throw err;
  }
  return res;
}

/** Fetch the bundle bytes (CBOR or the JSON view's UTF-8), writing them to `out` when given. */
export async function fetchBundle(o: FetchBundleOptions): Promise<Uint8Array> {
  const entry = uintOption(o.entry, 'entry', 0);
  const format = o.format ?? 'cbor';
  if (format !== 'cbor' && format !== 'json') fail('MALFORMED', '--format must be cbor or json', 'format');
  const q = new URLSearchParams({ format });
  if (o.since !== undefined) q.set('since', String(uintOption(o.since, 'since', 1)));
  if (o.treeSize !== undefined) q.set('treeSize', String(uintOption(o.treeSize, 'tree-size', 1)));
  const res = await gatewayGet(o.gateway, `v1/entries/${entry}/bundle?${q}`);
  let bytes = new Uint8Array(await res.arrayBuffer());
  // A proof bundle, or nothing is written (a web server's or proxy's 200 page is not one): no trust is needed to
  // decode it; `verify` checks it.
  try {
    decodeProofBundleAny(bytes);
  } catch (err) {
    fail('MALFORMED', `${res.url} answered with no proof bundle (${(err as Error).message}): is --gateway an OriginProof gateway's base URL?`, 'gateway', err);
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
    .action(async (o: FetchBundleOptions) => {
      const bytes = await fetchBundle(o);
      if (o.out) process.stderr.write(`wrote ${bytes.length} bytes to ${o.out}\n`);
      else process.stdout.write(bytes);
    });
}
