/**
 * `originproof verify BUNDLE --trust TRUST.json [--since CHECKPOINT_FILE] [--revocation-log DIR] [--revocations FILE...]
 * [--certificates FILE...] [--max-skew SECONDS] [--json]`: check a proof bundle offline (protocol/verify-bundle.ts)
 * with nothing but the trust file. `--revocation-log DIR` is what `fetch-revocations` wrote: DIR/checkpoint,
 * DIR/<log index>.rev and, for an agency's revocation or a device's keyCompromise, DIR/<log index>.cert (the
 * certificate it names) and for a device's DIR/<log index>.issuer.cert (its agency's). `--certificates`: such
 * certificates for the `--revocations` statements (protocol/agency-renewal.ts, key-compromise.ts).
 * Exit codes: 0 valid, 1 invalid, 2 unusable input (unreadable file, a bundle that does not decode, a bad
 * trust file, a --since file that is not a signed note, a revocation or certificate file that does not decode, a --revocation-log
 * directory without its checkpoint, a bad --max-skew).
 * The bundle may be CBOR or its JSON view; signatures are checked with node:crypto.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as nodeCrypto from 'node:crypto';
import type { Command } from 'commander';
import { decodeProofBundleAny, type ProofBundle } from '../../protocol/bundle.js';
import { parseNote } from '../../protocol/checkpoint.js';
import { OriginProofError } from '../../protocol/errors.js';
import { decodeCertificate } from '../../protocol/certificate.js';
import { decodeRevocation } from '../../protocol/revocation.js';
import { decimalText } from '../../protocol/reading.js';
import { parseTrustText, type TrustMaterial } from '../../protocol/trust.js';
import { verifyBundle, type Verdict } from '../../protocol/verify-bundle.js';
import { makeNodeVerify } from '../../gateway/crypto/node-verify-factory.js';
import type { RevocationLogInput } from '../../protocol/verify-revocation-log.js';
import { CHECKPOINT_FILE, REVOCATION_FILE } from './fetch-revocations.js';
import { uintOption } from '../options.js';
import { printable } from '../../protocol/printable.js';
import { readBoundedFile } from '../files.js';

export const EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_UNUSABLE = 2;

export interface VerifyCliOptions {
  bundle: string;
  trust: string;
  since?: string;
  revocations?: string[];
  /** Certificates the revocations name (an agency's, renewed: protocol/agency-renewal.ts). */
  certificates?: string[];
  /** A directory written by fetch-revocations: DIR/checkpoint and DIR/<log index>.rev. */
  revocationLog?: string;
  json?: boolean;
  /** Verifier clock (seconds), default now. */
  now?: number;
  /** The gateway's clock skew allowance in seconds (verify-bundle `maxClockSkewSeconds`); default: the trust file's clockSkewSeconds, else 300. */
  maxSkew?: number | string;
}

export interface VerifyCliResult {
  exitCode: 0 | 1 | 2;
  /** What the command prints on stdout (table or JSON, newline-terminated). */
  output: string;
  verdict?: Verdict;
  error?: { code: string; message: string };
}

/** Input that cannot be used at all (exit 2), with the file it came from. */
class Unusable extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** More than any input of verify comes near (a bundle, a trust file, a note, a revocation or certificate). */
const INPUT_MAX_BYTES = 64 << 20;

/** An input file, read only when a regular file of at most INPUT_MAX_BYTES (/dev/zero never ends). */
function readInput(path: string, what: string): Uint8Array {
  try {
    return readBoundedFile(path, INPUT_MAX_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Unusable(code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_REQUEST', code ? `cannot read ${what} ${path}: ${code}` : `${what} ${(err as Error).message}`);
  }
}

function usable<T>(what: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Unusable) throw err;
    const code = err instanceof OriginProofError ? err.code : 'MALFORMED';
    const at = err instanceof OriginProofError && err.path ? ` (at ${err.path})` : '';
    throw new Unusable(code, `${what} ${path} is unusable: ${(err as Error).message}${at}`);
  }
}

/** A signed note's text from a file (UTF-8, note syntax; its signatures are checked by the verifier). */
function readNote(path: string, what: string): string {
  const bytes = readInput(path, what);
  return usable(what, path, () => {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    parseNote(text);
    return text;
  });
}

/**
 * DIR/checkpoint, every DIR/<index>.rev (each must decode as a revocation statement) and its DIR/<index>.cert if
 * there is one (must decode as a certificate; its match with the statement is the verifier's business).
 */
function readRevocationLog(dir: string): RevocationLogInput {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Unusable(code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_REQUEST', `cannot read revocation log directory ${dir}: ${code ?? (err as Error).message}`);
  }
  const checkpoint = readNote(join(dir, CHECKPOINT_FILE), 'revocation log checkpoint');
  const revocations = names.flatMap((name) => {
    const m = REVOCATION_FILE.exec(name);
    if (!m) return [];
    const path = join(dir, name);
    const statement = readInput(path, 'revocation');
    usable('revocation', path, () => decodeRevocation(statement));
    // Beside it, the certificates that place it (fetch-revocations.ts): each must decode.
    const beside = (name: string): Uint8Array | undefined => {
      if (!names.includes(name)) return undefined;
      const certPath = join(dir, name);
      const certificate = readInput(certPath, 'certificate');
      usable('certificate', certPath, () => decodeCertificate(certificate));
      return certificate;
    };
    const [certificate, issuer] = [beside(`${m[1]}.cert`), beside(`${m[1]}.issuer.cert`)];
    return [{ index: Number(m[1]), statement, ...(certificate ? { certificate } : {}), ...(issuer ? { issuer } : {}) }];
  });
  return { checkpoint, revocations };
}

let nodeVerify: ReturnType<typeof makeNodeVerify> | undefined;

/** The whole command as a function: reads the files, verifies, formats. Never throws. */
export function runVerify(o: VerifyCliOptions): VerifyCliResult {
  let bundle: ProofBundle;
  let trust: TrustMaterial;
  let since: string | undefined;
  let revocations: Uint8Array[];
  let certificates: Uint8Array[];
  let revocationLog: RevocationLogInput | undefined;
  let maxSkew: number | undefined;
  try {
    if (o.maxSkew !== undefined) maxSkew = uintOption(o.maxSkew, 'max-skew');
    const trustBytes = readInput(o.trust, 'trust file');
    trust = usable('trust file', o.trust, () => parseTrustText(new TextDecoder().decode(trustBytes)));
    if (trust.checkpointKeys.length === 0) throw new Unusable('MALFORMED', `trust file ${o.trust} has no checkpointKeys: nothing can prove inclusion`);
    // No root: every chain would fail UNKNOWN_KEY, a verdict of INVALID on genuine records (a "root" for "roots").
    if (trust.roots.length === 0) throw new Unusable('MALFORMED', `trust file ${o.trust} has no roots: no certificate chain can be checked (a "roots" array of root certificates)`);
    const bundleBytes = readInput(o.bundle, 'bundle');
    bundle = usable('bundle', o.bundle, () => decodeProofBundleAny(bundleBytes));
    if (o.since !== undefined) {
      since = readNote(o.since, 'checkpoint');
    }
    revocations = (o.revocations ?? []).map((p) => {
      const bytes = readInput(p, 'revocation');
      usable('revocation', p, () => decodeRevocation(bytes));
      return bytes;
    });
    certificates = (o.certificates ?? []).map((p) => {
      const bytes = readInput(p, 'certificate');
      usable('certificate', p, () => decodeCertificate(bytes));
      return bytes;
    });
    if (o.revocationLog !== undefined) revocationLog = readRevocationLog(o.revocationLog);
  } catch (err) {
    const e = err instanceof Unusable ? { code: err.code, message: err.message } : { code: 'MALFORMED', message: (err as Error).message };
    const output = o.json ? `${JSON.stringify({ file: o.bundle, valid: false, error: e }, null, 2)}\n` : `UNUSABLE INPUT [${e.code}] ${printable(e.message)}\n`;
    return { exitCode: EXIT_UNUSABLE, output, error: e };
  }
  nodeVerify ??= makeNodeVerify(nodeCrypto);
  const verdict = verifyBundle(bundle, trust, {
    verifier: nodeVerify,
    ...(revocations.length > 0 ? { revocations } : {}),
    ...(certificates.length > 0 ? { certificates } : {}),
    ...(revocationLog ? { revocationLog } : {}),
    ...(since !== undefined ? { since: { checkpoint: since } } : {}),
    ...(o.now !== undefined ? { now: o.now } : {}),
    ...(maxSkew !== undefined ? { maxClockSkewSeconds: maxSkew } : {}),
  });
  const output = o.json ? `${JSON.stringify({ file: o.bundle, ...verdict }, null, 2)}\n` : formatVerdict(verdict, o.bundle);
  return { exitCode: verdict.valid ? EXIT_VALID : EXIT_INVALID, output, verdict };
}

const ENTRY_TYPE_NAMES: Record<number, string> = { 1: 'reading', 2: 'agency registration', 3: 'device registration', 4: 'revocation' };

/** Whom a registry event is about (the verdict names it once its payload decodes). */
function registrySubject(r: NonNullable<Verdict['record']>): string {
  const agency = r.agency !== undefined ? ` (${r.agency})` : '';
  if (r.entryType === 3 && r.deviceId !== undefined) return ` of ${r.deviceId}${agency}`;
  if (r.entryType === 2 && r.agency !== undefined) return ` of ${r.agency}`;
  if (r.entryType === 4 && r.deviceId !== undefined) return ` of device ${r.deviceId}${agency}`;
  if (r.entryType === 4 && r.agency !== undefined) return ` of agency ${r.agency}`;
  return '';
}

/**
 * A bundle's time as ISO 8601, or its raw value when Date cannot hold it (beyond ±8.64e15 ms, ECMA-262 §21.4.1.1):
 * a safe integer from an untrusted bundle may be, and the verdict must still be printed. Never throws.
 */
export function timeText(value: number, unit: 's' | 'ms'): string {
  const d = new Date(unit === 's' ? value * 1000 : value);
  return Number.isNaN(d.getTime()) ? `${value} ${unit} since 1970 (out of range)` : d.toISOString();
}

function recordLine(v: Verdict): string {
  const r = v.record;
  if (!r) return 'entry does not decode';
  const at = timeText(r.receivedAtMs, 'ms');
  if (r.entryType !== 1 || r.deviceId === undefined) return `${ENTRY_TYPE_NAMES[r.entryType] ?? `type ${r.entryType}`}${registrySubject(r)} at index ${r.index}, received ${at}`;
  const body = r.body as { kind: string; type?: string; value?: number; scale?: number; unit?: string; purpose?: string; result?: string };
  const what = body.kind === 'sensor' ? `${body.type} = ${decimalText(body.value!, body.scale!)} ${body.unit}` : `biometric ${body.purpose}: ${body.result}`;
  return `reading #${r.seq} of device ${r.deviceId}${r.agency ? ` (${r.agency})` : ''}: ${what}, signed ${timeText(r.iat!, 's')}, logged at index ${r.index} ${at}`;
}

/** The readable table. */
export function formatVerdict(v: Verdict, file?: string): string {
  const lines: string[] = [];
  // Every cell may quote the bundle (a subject name, a revocation's): printed escaped, one line each (printable.ts).
  if (file) lines.push(`bundle      ${printable(file)}`);
  lines.push(`record      ${printable(recordLine(v))}`);
  if (v.checkpoint) lines.push(`checkpoint  ${printable(v.checkpoint.origin)} @ ${v.checkpoint.size} (root ${v.checkpoint.root})`);
  lines.push('');
  const rows = v.checks.map((c) => [c.name, c.status.toUpperCase(), c.code ?? '', c.message].map((cell) => printable(cell)));
  const head = ['CHECK', 'RESULT', 'CODE', 'DETAIL'];
  const w = [0, 1, 2].map((i) => Math.max(head[i]!.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((cell, i) => (i < 3 ? cell.padEnd(w[i]!) : cell)).join('  ').trimEnd();
  lines.push(fmt(head), ...rows.map(fmt), '');
  const failed = v.checks.filter((c) => c.status === 'fail');
  lines.push(v.valid ? 'VALID' : `INVALID: ${failed.length > 0 ? failed.map((c) => `${c.name} ${c.code}`).join(', ') : 'inclusion not proven'}`);
  return `${lines.join('\n')}\n`;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check a proof bundle offline against a trust file (exit 0 valid, 1 invalid, 2 unusable input)')
    .argument('<bundle>', 'proof bundle file (CBOR, or its JSON view)')
    .requiredOption('--trust <file>', 'trust file: roots and checkpoint keys (README "Verifiers")')
    .option('--since <checkpoint>', 'a checkpoint (signed note) you already trust: the log must only have grown since')
    .option('--revocation-log <dir>', "the log's whole revocation list and its checkpoint (written by fetch-revocations): the revocation check is then complete up to that checkpoint")
    .option('--revocations <files...>', 'revocation statements you hold (COSE_Sign1 files): the bundle\'s own may be incomplete')
    .option('--certificates <files...>', "the certificates your --revocations statements name (an agency's; a device's by another agency, with that agency's): a revocation of another certificate of the reading's agency or device key is placed by it (UNKNOWN_KEY without it)")
    // No commander default: an absent --max-skew must leave verifyBundle's own default (the trust file's
    // clockSkewSeconds, else 300) in force.
    .option('--max-skew <seconds>', "the gateway's clock skew allowance (its clockSkewSeconds): how far a reading's iat may be ahead of its log time (default: the trust file's clockSkewSeconds, else 300)")
    .option('--json', 'print the verdict as JSON')
    .action((bundle: string, o: { trust: string; since?: string; revocations?: string[]; certificates?: string[]; revocationLog?: string; maxSkew?: string; json?: boolean }) => {
      const r = runVerify({ bundle, ...o });
      process.stdout.write(r.output);
      process.exitCode = r.exitCode;
    });
}
