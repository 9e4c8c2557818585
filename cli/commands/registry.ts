/**
 * Agency-side commands over the gateway's registry API:
 *   originproof register --gateway URL FILE...   certificates (agency or device, by role) and revocation statements
 *   originproof trust --root ROOT.cert [--gateway URL] [--out trust.json]   a trust file for gateways and verifiers
 * The files are the signed objects `originproof cert` writes; the gateway checks every signature and role.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { toBase64 } from '../../protocol/bytes.js';
import { decodeCertificate } from '../../protocol/certificate.js';
import { decodeRevocation } from '../../protocol/revocation.js';
import { OriginProofError, fail } from '../../protocol/errors.js';
import { Refused } from '../failure.js';
import { gatewayGet } from './fetch-bundle.js';

const REFUSALS = new Set([403, 404, 409, 422]);

function endpointFor(bytes: Uint8Array, file: string): { path: string; body: Record<string, string>; what: string } {
  try {
    const cert = decodeCertificate(bytes);
    if (cert.claims.role === 'agency') return { path: 'v1/agencies', body: { certificate: toBase64(bytes) }, what: `agency ${cert.claims.sub}` };
    if (cert.claims.role === 'device') return { path: 'v1/devices', body: { certificate: toBase64(bytes) }, what: `device ${cert.claims.sub}` };
    return fail('ROLE_VIOLATION', `${file} is a ${cert.claims.role} certificate: roots go in the trust file, not the registry`, file);
  } catch (err) {
    if ((err as { code?: string }).code === 'ROLE_VIOLATION') throw err;
  }
  const rev = decodeRevocation(bytes); // throws MALFORMED for anything else
  return { path: 'v1/revocations', body: { revocation: toBase64(bytes) }, what: `revocation of ${rev.claims.sub}` };
}

export async function register(gateway: string, files: string[], out: (line: string) => void): Promise<void> {
  for (const file of files) {
    const bytes = new Uint8Array(readFileSync(file));
    const { path, body, what } = endpointFor(bytes, file);
    const url = new URL(path, gateway.endsWith('/') ? gateway : `${gateway}/`);
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answer = (await res.json()) as Record<string, unknown>;
    if (!res.ok) {
      const err = new OriginProofError((answer.code as never) ?? 'MALFORMED', `${file}: ${String(answer.message ?? res.statusText)}`, { path: file });
      // The gateway checked it and said no (403, 404, 409, 422): exit 1. Unusable input (400, 413, 415), a rate
      // limit or an unavailable gateway (429, 5xx): no verdict, exit 2.
      throw REFUSALS.has(res.status) ? new Refused(err) : err;
    }
    out(`${res.status === 201 ? 'registered' : 'already registered'}: ${what} (log index ${String(answer.registeredAt ?? answer.index)})`);
  }
}

export async function makeTrust(rootCertFile: string, gateway: string | undefined): Promise<string> {
  const bytes = new Uint8Array(readFileSync(rootCertFile));
  const cert = decodeCertificate(bytes);
  if (cert.claims.role !== 'root') fail('ROLE_VIOLATION', `${rootCertFile} is not a root certificate`, rootCertFile);
  const trust: Record<string, unknown> = { roots: [{ certificate: toBase64(bytes) }] };
  if (gateway) {
    const log = (await (await gatewayGet(gateway, 'v1/log')).json()) as { verifierKey: string; origin: string };
    trust.checkpointKeys = [{ key: log.verifierKey }];
    trust.origin = log.origin;
  }
  return JSON.stringify(trust, null, 2) + '\n';
}

export function registerRegistryCommands(program: Command): void {
  program
    .command('register')
    .description('register agency or device certificates, or submit revocation statements, at a gateway')
    .requiredOption('--gateway <url>', 'gateway HTTP API, e.g. http://127.0.0.1:8080')
    .argument('<files...>', 'certificate (.cert) or revocation (.rev) files')
    .action(async (files: string[], o: { gateway: string }) => {
      await register(o.gateway, files, (l) => process.stdout.write(l + '\n'));
    });
  program
    .command('trust')
    .description('write a trust file: the root certificate, and with --gateway its checkpoint key and log origin')
    .requiredOption('--root <file>', 'root certificate')
    .option('--gateway <url>', 'fetch the checkpoint verifier key from this gateway (GET /v1/log)')
    .option('--out <file>', 'output file (default: stdout)')
    .action(async (o: { root: string; gateway?: string; out?: string }) => {
      const text = await makeTrust(o.root, o.gateway);
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
    });
}
