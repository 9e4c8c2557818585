/**
 * `originproof fetch-revocations --gateway URL --out DIR`: the log's whole revocation list (GET /v1/revocations: every
 * revocation entry below the latest checkpoint's tree size), one file per statement (DIR/<log index>.rev: the signed
 * COSE bytes as logged), and the checkpoint that commits to exactly that list (DIR/checkpoint, the signed note). For
 * `verify --revocation-log DIR` (complete up to that tree size: the list is checked against the checkpoint's
 * `revocations` line) or `verify --revocations DIR/*.rev` (each statement on its own). Stale `<index>.rev` files in
 * DIR are removed, so DIR always holds one list. Nothing is trusted here: `verify` checks the checkpoint's signature,
 * the list against it, and each statement's signature against the revoked certificate's issuer.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseNote } from '../../protocol/checkpoint.js';
import { decodeRevocation } from '../../protocol/revocation.js';
import { parseRevocationListing, type RevocationListing } from '../../protocol/verify-revocation-log.js';
import { gatewayGet } from './fetch-bundle.js';

export const REVOCATION_FILE = /^(0|[1-9][0-9]*)\.rev$/;
export const CHECKPOINT_FILE = 'checkpoint';

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
}

export async function fetchRevocations(o: { gateway: string; out: string }): Promise<FetchedRevocationLog> {
  const res = await gatewayGet(o.gateway, 'v1/revocations');
  let body: RevocationListing;
  try {
    body = parseRevocationListing(await res.json());
  } catch (err) {
    throw new Error(`the gateway did not answer with a revocation list (an older gateway?): ${(err as Error).message}`);
  }
  if (body.checkpoint !== null) parseNote(body.checkpoint); // a signed note; its signature and line are verify's business
  // Each a statement, not anything the gateway sent: fails with its code otherwise.
  const statements = body.revocations.map(({ index, statement }) => ({ index, bytes: statement, rev: decodeRevocation(statement) }));
  mkdirSync(o.out, { recursive: true });
  const keep = new Set(statements.map((s) => `${s.index}.rev`));
  for (const f of readdirSync(o.out)) if (REVOCATION_FILE.test(f) && !keep.has(f)) rmSync(join(o.out, f));
  const revocations = statements.map(({ index, bytes, rev }) => {
    const file = join(o.out, `${index}.rev`);
    writeFileSync(file, bytes);
    return { index, file, sub: rev.claims.sub, reason: rev.claims.reason, revokedFrom: rev.claims.revokedFrom };
  });
  const checkpointFile = join(o.out, CHECKPOINT_FILE);
  if (body.checkpoint === null) {
    rmSync(checkpointFile, { force: true });
    return { treeSize: body.treeSize, revocations };
  }
  writeFileSync(checkpointFile, body.checkpoint);
  return { treeSize: body.treeSize, checkpointFile, revocations };
}

export function registerFetchRevocations(program: Command): void {
  program
    .command('fetch-revocations')
    .description("download the log's whole revocation list and the checkpoint committing to it, for `verify --revocation-log DIR`")
    .requiredOption('--gateway <url>', 'gateway base URL, e.g. http://localhost:8080')
    .requiredOption('--out <dir>', 'directory to write <log index>.rev files and the checkpoint into (created if missing)')
    .action(async (o: { gateway: string; out: string }) => {
      const fetched = await fetchRevocations(o);
      for (const f of fetched.revocations) process.stderr.write(`${f.file}  ${f.sub}  ${f.reason} from ${f.revokedFrom}\n`);
      const n = fetched.revocations.length;
      const how = fetched.checkpointFile
        ? `, with the checkpoint at tree size ${fetched.treeSize} committing to them`
        : fetched.treeSize === 0
          ? ' (the log is empty: no checkpoint yet)'
          : ` (the gateway's latest checkpoint, tree size ${fetched.treeSize}, does not commit to revocations yet: use verify --revocations ${join(o.out, '*.rev')})`;
      process.stderr.write(`wrote ${n} revocation${n === 1 ? '' : 's'} to ${o.out}${how}\n`);
    });
}
