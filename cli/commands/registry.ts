/**
 * Agency-side commands over the gateway's registry API:
 *   originproof register --gateway URL FILE...   certificates (agency or device, by role) and revocation statements
 *   originproof trust --root ROOT.cert [--gateway URL] [--out trust.json]   a trust file for gateways and verifiers
 * The files are the signed objects `originproof cert` writes; the gateway checks every signature and role.
 */
import type { Command } from 'commander';
import { toBase64 } from '../../protocol/bytes.js';
import { decodeCertificate } from '../../protocol/certificate.js';
import { decodeRevocation } from '../../protocol/revocation.js';
import { parseVerifierKey } from '../../protocol/checkpoint.js';
import { OriginProofError, fail } from '../../protocol/errors.js';
import { Refused } from '../failure.js';
import { decodeInputFile, readInputFile, writeOutput } from '../files.js';
import { DEFAULT_TIMEOUT_SECONDS, gatewayGet, gatewayUrl, gatewayRequest, timeoutOption, type GatewayAnswer, type GatewayRequest } from '../gateway-http.js';

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
  // MALFORMED for anything else, naming the file.
  const rev = decodeInputFile(file, 'certificate or revocation', () => decodeRevocation(bytes));
  return { path: 'v1/revocations', body: { revocation: toBase64(bytes) }, what: `revocation of ${rev.claims.sub}` };
}

/**
 * POST each file to the gateway, each request within `req.timeoutMs` (gatewayRequest: UNAVAILABLE past it, the
 * answer read up to MAX_ANSWER_BYTES).
 */
export async function register(gateway: string, files: string[], out: (line: string) => void, req: GatewayRequest = {}): Promise<void> {
  gatewayUrl(gateway); // MALFORMED unless an http(s) URL: an option's error before the files'
  // Every file read and decoded before any is posted: one that cannot be read or is no certificate or revocation stops
  // the command with nothing registered, not after the files before it.
  const posts = files.map((file) => ({ file, ...endpointFor(readInputFile(file), file) }));
  for (const { file, path, body, what } of posts) {
    const res = await gatewayRequest(gateway, path, req, body);
    const text = res.text();
    let answer: Record<string, unknown> = {};
    try {
      answer = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* judged below */
    }
    const notGateway = (why: string) => fail('MALFORMED', `${res.url} answered ${res.status} ${why}: is --gateway an OriginProof gateway's base URL?`, 'gateway');
    if (!res.ok) {
      if (typeof answer.code !== 'string') return notGateway(`without an error code (${text.slice(0, 120)})`);
      const err = new OriginProofError(answer.code as never, `${file}: ${String(answer.message ?? `HTTP ${res.status}`)}`, { path: file });
      // The gateway checked it and said no (403, 404, 409, 422): exit 1. Unusable input (400, 413, 415), a rate
      // limit or an unavailable gateway (429, 5xx), or no such route (NOT_FOUND: a wrong base URL): no verdict, exit 2.
      throw REFUSALS.has(res.status) && answer.code !== 'NOT_FOUND' ? new Refused(err) : err;
    }
    const index = answer.registeredAt ?? answer.index;
    if ((res.status !== 200 && res.status !== 201) || typeof index !== 'number') return notGateway('with no log index');
    out(`${res.status === 201 ? 'registered' : 'already registered'}: ${what} (log index ${index})`);
  }
}

export async function makeTrust(rootCertFile: string, gateway: string | undefined, req: GatewayRequest = {}): Promise<string> {
  const bytes = readInputFile(rootCertFile);
  const cert = decodeInputFile(rootCertFile, 'root certificate', () => decodeCertificate(bytes));
  if (cert.claims.role !== 'root') fail('ROLE_VIOLATION', `${rootCertFile} is not a root certificate`, rootCertFile);
  const trust: Record<string, unknown> = { roots: [{ certificate: toBase64(bytes) }] };
  if (gateway) {
    const res = await gatewayGet(gateway, 'v1/log', req);
    let log: { verifierKey?: unknown; origin?: unknown; checkpointKeys?: unknown } = {};
    try {
      log = res.json() as typeof log;
    } catch {
      /* judged below */
    }
    // Checked here, not first by `verify`: a trust file with a broken checkpoint key would only fail there, later.
    if (typeof log.verifierKey !== 'string' || typeof log.origin !== 'string' || log.origin.length === 0) {
      fail('MALFORMED', `${gateway} answered GET /v1/log without a checkpoint verifier key and origin: is it an OriginProof gateway's base URL?`, 'gateway');
    }
    parseVerifierKey(log.verifierKey); // MALFORMED unless a verifier key
    // The log's keys over its life (a rotated log's retired ones, with their windows, so that its older bundles still
    // verify); a gateway from before the field gives its one key.
    trust.checkpointKeys = log.checkpointKeys === undefined ? [{ key: log.verifierKey }] : logKeys(gateway, log.checkpointKeys, log.verifierKey);
    trust.origin = log.origin;
    // The gateway's clock skew allowance (GET /v1/trust): its bundles verify only with it, since the verifier bounds a
    // reading's iat by its entry's receivedAt + that skew (found by review: a gateway configured above the default 300 s
    // receipted readings whose bundles then failed `checkpoint CLOCK_SKEW` with the trust file written here). A gateway
    // from before GET /v1/trust (404) leaves it out, and verify takes its default.
    const skew = await gatewayClockSkew(gateway, req);
    if (skew !== undefined) trust.clockSkewSeconds = skew;
  }
  return JSON.stringify(trust, null, 2) + '\n';
}

/** GET /v1/log's checkpointKeys, checked (each a verifier key, windows in seconds, the current key among them). */
function logKeys(gateway: string, keys: unknown, current: string): { key: string; notBefore?: number; notAfter?: number }[] {
  const bad = (why: string): never => fail('MALFORMED', `${gateway} answered GET /v1/log with checkpointKeys ${why}`, 'checkpointKeys');
  if (!Array.isArray(keys) || keys.length === 0) return bad('that are not a list of keys');
  const out = keys.map((k: unknown) => {
    if (typeof k !== 'object' || k === null || typeof (k as { key?: unknown }).key !== 'string') return bad('holding a non-key');
    const { key, notBefore, notAfter } = k as { key: string; notBefore?: unknown; notAfter?: unknown };
    try {
      parseVerifierKey(key);
    } catch {
      bad(`holding ${JSON.stringify(key.slice(0, 80))}, not a verifier key`);
    }
    for (const t of [notBefore, notAfter]) if (t !== undefined && !(Number.isSafeInteger(t) && (t as number) >= 0)) bad('with a window that is not seconds');
    return { key, ...(notBefore !== undefined ? { notBefore: notBefore as number } : {}), ...(notAfter !== undefined ? { notAfter: notAfter as number } : {}) };
  });
  if (!out.some((k) => k.key === current)) bad('without its verifierKey');
  return out;
}

async function gatewayClockSkew(gateway: string, req: GatewayRequest): Promise<number | undefined> {
  let res: GatewayAnswer;
  try {
    res = await gatewayGet(gateway, 'v1/trust', req);
  } catch (err) {
    if ((err as { status?: unknown }).status === 404) return undefined;
    throw err;
  }
  let body: { clockSkewSeconds?: unknown } = {};
  try {
    body = res.json() as typeof body;
  } catch {
    /* judged below */
  }
  const v = body.clockSkewSeconds;
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 86_400) {
    fail('MALFORMED', `${gateway} answered GET /v1/trust with a clockSkewSeconds that is not whole seconds from 1 to 86400`, 'gateway');
  }
  return v;
}

export function registerRegistryCommands(program: Command): void {
  program
    .command('register')
    .description('register agency or device certificates, or submit revocation statements, at a gateway')
    .requiredOption('--gateway <url>', 'gateway HTTP API, e.g. http://127.0.0.1:8080')
    .argument('<files...>', 'certificate (.cert) or revocation (.rev) files')
    .option('--timeout <seconds>', `seconds each request may take, answer included (default ${DEFAULT_TIMEOUT_SECONDS})`)
    .action(async (files: string[], o: { gateway: string; timeout?: string }) => {
      await register(o.gateway, files, (l) => process.stdout.write(l + '\n'), timeoutOption(o.timeout));
    });
  program
    .command('trust')
    .description("write a trust file: the root certificate, and with --gateway the log's checkpoint keys, origin and clock skew allowance")
    .requiredOption('--root <file>', 'root certificate')
    .option('--gateway <url>', "fetch the log's checkpoint verifier keys from this gateway (GET /v1/log checkpointKeys: after a key rotation the retired ones too, with their windows), and its clockSkewSeconds (GET /v1/trust)")
    .option('--out <file>', 'output file (default: stdout)')
    .option('--timeout <seconds>', `with --gateway: seconds each request may take, answer included (default ${DEFAULT_TIMEOUT_SECONDS})`)
    .action(async (o: { root: string; gateway?: string; out?: string; timeout?: string }) => {
      const text = await makeTrust(o.root, o.gateway, timeoutOption(o.timeout));
      if (o.out) writeOutput(o, text, [o.root]);
      else process.stdout.write(text);
    });
}
