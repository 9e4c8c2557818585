/**
 * `originproof fetch-revocations --gateway URL --out DIR`: every revocation the gateway holds (GET /v1/revocations,
 * the strictest statement per revoked certificate), one file per statement (DIR/<log index>.rev: the signed COSE
 * bytes as logged), for `verify --revocations DIR/*.rev`. A bundle's own revocations are chosen by whoever made the
 * bundle; these are the gateway's whole set. Nothing is trusted here: `verify` checks each statement's signature
 * against the revoked certificate's issuer, and each one's entry can be proven in the log with `fetch-bundle`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { fromBase64 } from '../../protocol/bytes.js';
import { decodeRevocation } from '../../protocol/revocation.js';
import { gatewayGet } from './fetch-bundle.js';

export interface FetchedRevocation {
  index: number;
  file: string;
  sub: string;
  reason: string;
  revokedFrom: number;
}

export async function fetchRevocations(o: { gateway: string; out: string }): Promise<FetchedRevocation[]> {
  const res = await gatewayGet(o.gateway, 'v1/revocations');
  const list = (await res.json()) as { index: number; revocation: string }[];
  mkdirSync(o.out, { recursive: true });
  return list.map(({ index, revocation }) => {
    const bytes = fromBase64(revocation);
    const rev = decodeRevocation(bytes); // a statement, not anything the gateway sent: fails with its code otherwise
    if (!Number.isSafeInteger(index) || index < 0) throw new Error(`the gateway listed a revocation at index ${String(index)}`);
    const file = join(o.out, `${index}.rev`);
    writeFileSync(file, bytes);
    return { index, file, sub: rev.claims.sub, reason: rev.claims.reason, revokedFrom: rev.claims.revokedFrom };
  });
}

export function registerFetchRevocations(program: Command): void {
  program
    .command('fetch-revocations')
    .description('download every revocation a gateway holds, one file each, for `verify --revocations DIR/*.rev`')
    .requiredOption('--gateway <url>', 'gateway base URL, e.g. http://localhost:8080')
    .requiredOption('--out <dir>', 'directory to write <log index>.rev files into (created if missing)')
    .action(async (o: { gateway: string; out: string }) => {
      const fetched = await fetchRevocations(o);
      for (const f of fetched) process.stderr.write(`${f.file}  ${f.sub}  ${f.reason} from ${f.revokedFrom}\n`);
      process.stderr.write(`wrote ${fetched.length} revocation${fetched.length === 1 ? '' : 's'} to ${o.out}\n`);
    });
}
