/**
 * `originproof fetch-bundle --gateway URL --entry N [--since SIZE] [--tree-size SIZE] [--out FILE] [--format cbor|json]`:
 * download one entry's proof bundle (GET /v1/entries/N/bundle) for offline `verify`. With --since, the bundle
 * carries a consistency proof from SIZE (bundle key 9) so `verify --since` needs no network. Nothing is trusted
 * here: verification is `originproof verify`'s job. Uses global fetch (Node 20).
 */
import type { Command } from 'commander';
import { uintOption } from '../options.js';
import { fail } from '../../protocol/errors.js';
import { decodeProofBundleAny, type ProofBundle } from '../../protocol/bundle.js';
import { writeOutput } from '../files.js';
import { DEFAULT_TIMEOUT_SECONDS, gatewayGet, timeoutOption } from '../gateway-http.js';

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
