/**
 * `originproof fetch-revocations --gateway URL --out DIR`: the log's whole revocation list (GET /v1/revocations, page
 * by page: every revocation entry below the latest checkpoint's tree size), one file per statement (DIR/<log
 * index>.rev: the signed COSE bytes as logged), the checkpoint that commits to exactly that list (DIR/checkpoint, the
 * signed note), and beside an agency's revocation, or a device's for keyCompromise, the certificate it names
 * (DIR/<log index>.cert) and for a device's its agency's certificate (DIR/<log index>.issuer.cert), as the gateway
 * lists them: a verifier needs them to place a revocation of another certificate of a key (an agency's renewal,
 * protocol/agency-renewal.ts; a device's previous agency, key-compromise.ts).
 * For `verify --revocation-log DIR` (complete up to that tree size: the list is checked against the checkpoint's
 * `revocations` line) or `verify --revocations DIR/*.rev` (each statement on its own). Stale `<index>.rev` and
 * `<index>.cert` and `<index>.issuer.cert` files in DIR are removed, so DIR always holds one list (DIR/format: which files it holds). Nothing is trusted here: `verify` checks the
 * checkpoint's signature, the list against it, and each statement's signature against the revoked certificate's issuer.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { bytesEqual } from '../../protocol/bytes.js';
import { parseCheckpoint, parseNote } from '../../protocol/checkpoint.js';
import { decodeRevocation } from '../../protocol/revocation.js';
import { fail, OriginProofError } from '../../protocol/errors.js';
import { decodeCertificate } from '../../protocol/certificate.js';
import { Refused } from '../failure.js';
import { makeDirectories } from '../files.js';
import { printable } from '../../protocol/printable.js';
import { commitRevocations, revocationsOfCheckpoint, type LoggedRevocation } from '../../protocol/revocation-log.js';
import {
  collectRevocationListing, revocationListingPath, type RevocationListing, type RevocationListingQuery, type RevocationPageFetcher,
} from '../../protocol/revocation-listing.js';
import { DEFAULT_TIMEOUT_SECONDS, gatewayGet, timeoutOption, type GatewayRequest } from '../gateway-http.js';

export const REVOCATION_FILE = /^(0|[1-9][0-9]*)\.rev$/;
export const CERTIFICATE_FILE = /^(0|[1-9][0-9]*)\.cert$/;
export const ISSUER_FILE = /^(0|[1-9][0-9]*)\.issuer\.cert$/;
export const CHECKPOINT_FILE = 'checkpoint';
/**
 * DIR/format names what the list's files hold. 2: an agency revocation has its certificate beside it; 3: a device's
 * keyCompromise has too, with its agency's (.issuer.cert). A DIR without it (written before the .cert files existed)
 * or with another is fetched whole once, not brought up to date: its held revocations would stay without their
 * certificates, and `verify` could not place them (UNKNOWN_KEY).
 */
export const FORMAT_FILE = 'format';
const FORMAT = 'originproof revocation list 3\n';

export interface FetchedRevocation {
  index: number;
  file: string;
  sub: string;
  reason: string;
  revokedFrom: number;
}

export interface FetchedRevocationLog {
  treeSize: number;
  /** DIR/checkpoint; undefined while the log is empty or its latest checkpoint has no revocations line. */
  checkpointFile?: string;
  revocations: FetchedRevocation[];
  /** Of `revocations`, how many were already in DIR (below its earlier checkpoint) and were not fetched again. */
  kept: number;
}

/** GET /v1/revocations pages from a gateway, for protocol's collectRevocationListing. */
export function revocationPages(gateway: string, req: GatewayRequest = {}): RevocationPageFetcher {
  return async (q: RevocationListingQuery) => (await gatewayGet(gateway, revocationListingPath(q), req)).json();
}

async function collect(gateway: string, from: RevocationListingQuery, req: GatewayRequest): Promise<RevocationListing> {
  try {
    return await collectRevocationListing(revocationPages(gateway, req), from);
  } catch (err) {
    if ((err as { status?: number }).status !== undefined || (err as { code?: string }).code === 'UNAVAILABLE') throw err;
    throw new Error(`the gateway did not answer with a revocation list (an older gateway?): ${(err as Error).message}`);
  }
}

type Listed = RevocationListing['revocations'][number];

/** The list an earlier fetch left in DIR: its checkpoint's origin and size, and the statements below that size. */
function heldList(dir: string): { origin: string; size: number; checkpoint: string; revocations: Listed[] } | undefined {
  const file = join(dir, CHECKPOINT_FILE);
  if (!existsSync(file)) return undefined;
  try {
    if (readFileSync(join(dir, FORMAT_FILE), 'utf8') !== FORMAT) return undefined;
    const checkpoint = readFileSync(file, 'utf8');
    const cp = parseCheckpoint(parseNote(checkpoint).text);
    const revocations = readdirSync(dir)
      .filter((f) => REVOCATION_FILE.test(f))
      .map((f): Listed => {
        const index = Number(f.slice(0, -4));
        const held = (name: string) => (existsSync(join(dir, name)) ? new Uint8Array(readFileSync(join(dir, name))) : undefined);
        const [certificate, issuer] = [held(`${index}.cert`), held(`${index}.issuer.cert`)];
        return { index, statement: held(f)!, ...(certificate ? { certificate } : {}), ...(issuer ? { issuer } : {}) };
      })
      .filter((r) => r.index < cp.size)
      .sort((a, b) => a.index - b.index);
    return { origin: cp.origin, size: cp.size, checkpoint, revocations };
  } catch {
    return undefined; // not a list this command wrote: fetch it whole
  }
}

/** Whether `list` hashes to what `checkpoint` (of `origin`) commits to; nothing is trusted, this only spares a fetch. */
function committedBy(list: readonly LoggedRevocation[], checkpoint: string | null, origin: string): boolean {
  if (checkpoint === null) return false;
  try {
    const cp = parseCheckpoint(parseNote(checkpoint).text);
    const line = revocationsOfCheckpoint(cp.extensions);
    if (cp.origin !== origin || !line) return false;
    const got = commitRevocations(list);
    return got.count === line.count && bytesEqual(got.digest, line.digest);
  } catch {
    return false;
  }
}

/** The origin of a checkpoint note, if it parses. */
function originOf(checkpoint: string | null): string | undefined {
  try {
    return checkpoint === null ? undefined : parseCheckpoint(parseNote(checkpoint).text).origin;
  } catch {
    return undefined;
  }
}

/**
 * The held list is the verifier's evidence: when it is intact (it hashes to its own checkpoint's line), a list of the
 * same log that does not extend it (an older tree size: a rolled-back log; or a line that is not the held one extended
 * by the entries logged since: a revocation dropped or altered) must not replace it. Refused (exit 1), DIR untouched.
 * Nor by one of another log (a directory is for one log). A held list changed locally is fetched whole again as before
 * (`--full`: always).
 */
function refuseToGoBack(dir: string, held: NonNullable<ReturnType<typeof heldList>>, listing: RevocationListing): void {
  if (!committedBy(held.revocations, held.checkpoint, held.origin)) return; // not intact: nothing to keep
  const then = `the list in ${dir} (tree size ${held.size}, ${held.revocations.length} revocation(s))`;
  const look = 'kept as it was; once someone has looked, --full replaces it';
  // Another log's: the gateway's word for it is no reason to drop the evidence held (a directory is for one log).
  const origin = originOf(listing.checkpoint);
  if (origin !== undefined && origin !== held.origin) {
    throw new Refused(new OriginProofError('CHECKPOINT_INVALID', `the gateway's checkpoint is of log ${printable(origin)}, ${then} of ${held.origin}; ${look} (or give another --out for another log)`, { path: 'origin' }));
  }
  if (listing.treeSize < held.size) {
    throw new Refused(new OriginProofError('CONSISTENCY_INVALID', `the gateway's log is at tree size ${listing.treeSize}, older than ${then}: a rolled-back log; ${look}`, { path: 'treeSize' }));
  }
  throw new Refused(new OriginProofError('CHECKPOINT_INVALID', `the gateway's checkpoint at tree size ${listing.treeSize} ${listing.checkpoint === null ? 'commits to no revocations' : 'does not commit to'} ${then} and the revocations logged since: a revocation dropped or altered; ${look}`, { path: 'revocations' }));
}

/**
 * Fetch the list into DIR. When DIR holds a list from an earlier fetch (its checkpoint and .rev files), only the
 * entries logged since are fetched (GET /v1/revocations?after=), and the held ones are kept if, with the new ones,
 * they hash to the new checkpoint's line; otherwise (another log, a file changed or missing, `full`) the whole list
 * is fetched again, unless the held list is intact and the gateway's does not extend it (refuseToGoBack: exit 1, DIR
 * untouched). Either way `verify` checks the list against the checkpoint's signature.
 */
export async function fetchRevocations(o: { gateway: string; out: string; full?: boolean; timeout?: number | string }): Promise<FetchedRevocationLog> {
  const req = timeoutOption(o.timeout);
  const held = o.full ? undefined : heldList(o.out);
  let listing = await collect(o.gateway, held ? { after: held.size - 1 } : {}, req);
  let list = listing.revocations;
  let kept = 0;
  if (held) {
    const joined = [...held.revocations, ...list];
    if (listing.treeSize >= held.size && committedBy(joined, listing.checkpoint, held.origin)) {
      list = joined;
      kept = held.revocations.length;
    } else {
      if (!o.full) refuseToGoBack(o.out, held, listing);
      listing = await collect(o.gateway, listing.treeSize > 0 ? { treeSize: listing.treeSize } : {}, req);
      list = listing.revocations;
    }
  }
  if (listing.checkpoint !== null) parseNote(listing.checkpoint); // a signed note; its signature and line are verify's business
  // Each a statement, not anything the gateway sent: fails with its code otherwise.
  // And each certificate beside one a certificate: `verify` reads them all, and one that does not decode would make
  // every later `verify --revocation-log` unusable input, blamed on the verifier's directory.
  const statements = list.map(({ index, statement, certificate, issuer }) => {
    for (const [what, bytes] of [['certificate', certificate], ['issuer', issuer]] as const) {
      if (!bytes) continue;
      try {
        decodeCertificate(bytes);
      } catch (err) {
        fail('MALFORMED', `the gateway listed revocation entry ${index} with a${what === 'issuer' ? 'n issuer' : ''} certificate that does not decode (${(err as Error).message}): nothing written`, `revocations.${index}.${what}`, err);
      }
    }
    return { index, bytes: statement, certificate, issuer, rev: decodeRevocation(statement) };
  });
  makeDirectories(o.out);
  // The checkpoint goes first and comes back last (through a temporary file): a run cut off while it rewrites the
  // files (killed, disk full) leaves a directory without its checkpoint, which verify refuses as unusable (exit 2) and
  // the next fetch takes whole, not an old checkpoint beside a mix of old and new files (verify said INVALID then:
  // suspected by the verifier-CLI review).
  const checkpointFile = join(o.out, CHECKPOINT_FILE);
  rmSync(checkpointFile, { force: true });
  const keep = new Set(statements.flatMap((s) => [`${s.index}.rev`, ...(s.certificate ? [`${s.index}.cert`] : []), ...(s.issuer ? [`${s.index}.issuer.cert`] : [])]));
  for (const f of readdirSync(o.out)) {
    if ((REVOCATION_FILE.test(f) || CERTIFICATE_FILE.test(f) || ISSUER_FILE.test(f)) && !keep.has(f)) rmSync(join(o.out, f));
  }
  const revocations = statements.map(({ index, bytes, certificate, issuer, rev }, i) => {
    const file = join(o.out, `${index}.rev`);
    if (i >= kept) {
      writeFileSync(file, bytes);
      if (certificate) writeFileSync(join(o.out, `${index}.cert`), certificate);
      if (issuer) writeFileSync(join(o.out, `${index}.issuer.cert`), issuer);
    }
    return { index, file, sub: rev.claims.sub, reason: rev.claims.reason, revokedFrom: rev.claims.revokedFrom };
  });
  writeFileSync(join(o.out, FORMAT_FILE), FORMAT);
  if (listing.checkpoint === null) return { treeSize: listing.treeSize, revocations, kept };
  writeFileSync(`${checkpointFile}.tmp`, listing.checkpoint);
  renameSync(`${checkpointFile}.tmp`, checkpointFile);
  return { treeSize: listing.treeSize, checkpointFile, revocations, kept };
}

export function registerFetchRevocations(program: Command): void {
  program
    .command('fetch-revocations')
    .description("download the log's whole revocation list and the checkpoint committing to it, for `verify --revocation-log DIR`")
    .requiredOption('--gateway <url>', 'gateway base URL, e.g. http://localhost:8080')
    .requiredOption('--out <dir>', 'directory to write the list into (created if missing): <log index>.rev, beside it <log index>.cert and .issuer.cert where the list carries the certificates a revocation names, checkpoint and format; a list an earlier fetch left there is only brought up to date')
    .option('--full', 'fetch the whole list again, even where DIR holds an earlier one')
    .option('--timeout <seconds>', `seconds each request may take, answer included (default ${DEFAULT_TIMEOUT_SECONDS})`)
    .action(async (o: { gateway: string; out: string; full?: boolean; timeout?: string }) => {
      const fetched = await fetchRevocations(o);
      // sub: any text the statement's signer chose (unchecked here): printed escaped.
      for (const f of fetched.revocations.slice(fetched.kept)) process.stderr.write(`${f.file}  ${printable(f.sub)}  ${f.reason} from ${f.revokedFrom}\n`);
      const n = fetched.revocations.length;
      const how = fetched.checkpointFile
        ? `, with the checkpoint at tree size ${fetched.treeSize} committing to them`
        : fetched.treeSize === 0
          ? ' (the log is empty: no checkpoint yet)'
          : ` (the gateway's latest checkpoint, tree size ${fetched.treeSize}, does not commit to revocations yet: use verify --revocations ${join(o.out, '*.rev')})`;
      const kept = fetched.kept > 0 ? ` (${fetched.kept} kept from the earlier fetch, ${n - fetched.kept} new)` : '';
      process.stderr.write(`${n} revocation${n === 1 ? '' : 's'} in ${o.out}${kept}${how}\n`);
    });
}
