/**
 * `originproof cert root|agency|device|show|revoke|verify`: make and check a root -> agency -> device chain on disk.
 * Certificates are the raw COSE_Sign1 bytes (protocol/certificate.ts); revocations likewise (protocol/revocation.ts).
 */
import type { Command } from 'commander';
import {
  anchorFromRootCertificate, createRevocation, decodeCertificate, decodeRevocation, decodeSign1, fail, issueCertificate,
  keyThumbprint, publicKey, toHex, trustAnchors, validateChain, verifyRevocation, CT_CERTIFICATE, CT_REVOCATION,
  REVOCATION_REASONS, deviceIdFromKey, deviceIdToHex, verifyProofOfPossession, verifyCertifiedPossession, certifiedPossessionClaims, type DecodedCertificate, type RevocationReason,
} from '../../protocol/index.js';
import { Refused } from '../failure.js';
import { hexOption, MAX_UNIX_SECONDS, timeOption, uintOption } from '../options.js';
import { decodeInputFile, readInputFile, writeOutput } from '../files.js';
import { algToName, loadPublicKey, loadSigner } from './keys.js';

const DAY = 86_400;

function window(days: string | number, now?: string | number) {
  const t = timeOption(now, 'now');
  // Whole days in decimal (Number() took 1e3 and 0x10), ending by year 9999 (99999999999 days ended in year 273
  // million, past what RFC 3339 and the verifier page show).
  const d = uintOption(days, 'days', 1);
  if (t + d * DAY > MAX_UNIX_SECONDS) fail('MALFORMED', `--days ${d} from ${t} ends after year 9999`, 'days');
  return { iat: t, nbf: t, exp: t + d * DAY };
}

const readCert = (path: string): DecodedCertificate => decodeInputFile(path, 'certificate', decodeCertificate);

export async function certRoot(o: { key: string; id: string; days: string | number; out: string; now?: string | number }): Promise<DecodedCertificate> {
  const signer = loadSigner(o.key);
  const key = publicKey(signer.alg, signer.publicKey);
  const bytes = await issueCertificate(signer, keyThumbprint(key), { iss: o.id, sub: o.id, role: 'root', holderKey: key, ...window(o.days, o.now) });
  writeOutput(o, bytes, [o.key]);
  return decodeCertificate(bytes);
}

export async function certAgency(o: { issuerKey: string; issuerCert: string; subjectKey: string; id: string; days: string | number; out: string; now?: string | number }): Promise<DecodedCertificate> {
  const signer = loadSigner(o.issuerKey);
  const issuer = readCert(o.issuerCert);
  const bytes = await issueCertificate(signer, issuer.holderKid, {
    iss: issuer.claims.sub, sub: o.id, role: 'agency', holderKey: loadPublicKey(o.subjectKey), ...window(o.days, o.now),
  });
  writeOutput(o, bytes, [o.issuerKey, o.issuerCert, o.subjectKey]);
  return decodeCertificate(bytes);
}

/**
 * A device certificate carries the device's proof of possession for this agency (`--pop`, from `keys prove` or the
 * device: SPEC §2), which the gateway requires. With `--nonce` (the challenge the agency gave for it) the proof is
 * checked as onboarding does: that nonce, and made within 300 s of `--now`; without, its key, device id, agency and
 * signature only (a renewal carries the proof kept from onboarding).
 */
export async function certDevice(o: {
  issuerKey: string; issuerCert: string; subjectKey: string; pop: string; nonce?: string; kind: string; types: string; firmware: string; days: string | number;
  out: string; now?: string | number;
}): Promise<DecodedCertificate> {
  const signer = loadSigner(o.issuerKey);
  const issuer = readCert(o.issuerCert);
  const holderKey = loadPublicKey(o.subjectKey);
  const pop = readInputFile(o.pop);
  const w = window(o.days, o.now);
  // A --nonce that is not hex is a bad option, a --pop file that is no proof of possession one that cannot be decoded:
  // no verdict (exit 2; found by review: both were exit 1, as if a proof had been checked and refused).
  const nonce = o.nonce === undefined ? undefined : hexOption(o.nonce, 'nonce');
  const firmware = hexOption(o.firmware, 'firmware');
  certifiedPossessionClaims(pop);
  // A proof that does not hold is a verdict (exit 1), as `cert verify`'s.
  if (nonce !== undefined) refusedIfFails(() => verifyProofOfPossession(pop, holderKey, { agencyId: issuer.claims.sub, nonce, now: w.iat }));
  refusedIfFails(() => verifyCertifiedPossession(pop, holderKey, issuer.claims.sub, 'pop'));
  const bytes = await issueCertificate(signer, issuer.holderKid, {
    iss: issuer.claims.sub, sub: deviceIdToHex(deviceIdFromKey(holderKey)), role: 'device', holderKey, ...w,
    profile: { kind: o.kind, readingTypes: o.types.split(',').map((t) => t.trim()).filter(Boolean), firmware },
    proofOfPossession: pop,
  });
  writeOutput(o, bytes, [o.issuerKey, o.issuerCert, o.subjectKey, o.pop]);
  return decodeCertificate(bytes);
}

export function certToJson(c: DecodedCertificate): Record<string, unknown> {
  const { claims } = c;
  return {
    type: 'certificate', role: claims.role, iss: claims.iss, sub: claims.sub, iat: claims.iat, nbf: claims.nbf, exp: claims.exp,
    cti: toHex(claims.cti), alg: algToName(claims.holderKey.alg), publicKey: toHex(claims.holderKey.raw), holderKid: toHex(c.holderKid),
    issuerKid: toHex(c.issuerKid), certRef: toHex(c.certRef),
    ...(claims.profile ? { profile: { kind: claims.profile.kind, readingTypes: claims.profile.readingTypes, firmware: toHex(claims.profile.firmware) } } : {}),
    ...(claims.proofOfPossession ? { proofOfPossession: toHex(claims.proofOfPossession) } : {}),
  };
}

export function showFile(path: string): Record<string, unknown> {
  return decodeInputFile(path, 'certificate or revocation', (bytes) => {
    const ct = decodeSign1(bytes).contentType;
    if (ct === CT_CERTIFICATE) return certToJson(decodeCertificate(bytes));
    if (ct === CT_REVOCATION) {
      const r = decodeRevocation(bytes);
      return { type: 'revocation', ...r.claims, certRef: toHex(r.claims.certRef), issuerKid: toHex(r.issuerKid) };
    }
    return fail('MALFORMED', `its content type is ${String(ct)}, neither a certificate's nor a revocation's`, 'protected.content_type');
  });
}

export async function certRevoke(o: { issuerKey: string; cert: string; reason: string; from?: string | number; out: string; now?: string | number }): Promise<Record<string, unknown>> {
  if (!(REVOCATION_REASONS as readonly string[]).includes(o.reason)) fail('CLAIM_INVALID', `reason must be one of ${REVOCATION_REASONS.join(', ')}`, 'reason');
  const now = timeOption(o.now, 'now');
  const bytes = await createRevocation(loadSigner(o.issuerKey), readCert(o.cert), {
    reason: o.reason as RevocationReason, revokedFrom: o.from === undefined ? now : timeOption(o.from, 'from'), iat: now,
  });
  writeOutput(o, bytes, [o.issuerKey, o.cert]);
  return showFile(o.out);
}

/** Run a check on input already read and decoded: its failure is a verdict (exit 1), not unusable input. */
function refusedIfFails<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw err instanceof Error ? new Refused(err) : err;
  }
}

/** Verify [device, agency] or [agency] against a root certificate, optionally with revocations checked by their issuer. */
export function certVerify(o: { root: string; chain: string[]; at?: string | number; revocations?: string[] }): Record<string, unknown> {
  const root = readCert(o.root);
  const anchors = trustAnchors([anchorFromRootCertificate(root)]);
  const certs = o.chain.map(readCert);
  const byKid = new Map([root, ...certs].map((c) => [toHex(c.holderKid), c]));
  const revocations = (o.revocations ?? []).map((p) => {
    const r = decodeInputFile(p, 'revocation', decodeRevocation);
    const target = certs.find((c) => toHex(c.certRef) === toHex(r.claims.certRef));
    const issuer = byKid.get(toHex(r.issuerKid));
    if (!target || !issuer) fail('UNKNOWN_KEY', `${p} names a certificate or issuer not in this chain`, p);
    return refusedIfFails(() => verifyRevocation(r, target, issuer.holderKey));
  });
  const at = timeOption(o.at, 'at');
  const v = refusedIfFails(() => validateChain(certs, anchors, at, { revocations }));
  return { valid: true, at, anchor: v.anchor.name, chain: v.certs.map((c) => ({ role: c.claims.role, sub: c.claims.sub, certRef: toHex(c.certRef) })) };
}

const print = (v: unknown): void => {
  process.stdout.write(JSON.stringify(v, null, 2) + "\n");
};

export function registerCert(program: Command): void {
  const cert = program.command('cert').description('issue, show, revoke and verify certificates');
  cert.command('root').description('self-signed root certificate')
    .requiredOption('--key <file>', 'root secret key (.key)').requiredOption('--id <id>', 'root id, e.g. root.example')
    .requiredOption('--days <n>', 'validity in days').requiredOption('--out <file>', 'output certificate').option('--now <seconds>', 'issue time (default: now)')
    .action(async (o) => print(certToJson(await certRoot(o))));
  cert.command('agency').description('agency certificate signed by the root')
    .requiredOption('--issuer-key <file>').requiredOption('--issuer-cert <file>').requiredOption('--subject-key <file>', 'agency .pub.json')
    .requiredOption('--id <id>', 'agency id, e.g. psb.example').requiredOption('--days <n>').requiredOption('--out <file>').option('--now <seconds>')
    .action(async (o) => print(certToJson(await certAgency(o))));
  cert.command('device').description('device certificate signed by an agency')
    .requiredOption('--issuer-key <file>').requiredOption('--issuer-cert <file>').requiredOption('--subject-key <file>', 'device .pub.json')
    .requiredOption('--pop <file>', "the device's proof of possession for this agency (keys prove, or the device)")
    .option('--nonce <hex>', 'the challenge the proof was made for: checked with its time, as at onboarding')
    .requiredOption('--kind <kind>', 'e.g. temperature-sensor').requiredOption('--types <list>', 'comma-separated reading types')
    .requiredOption('--firmware <hex>', 'SHA-256 of the firmware image (64 hex)').requiredOption('--days <n>').requiredOption('--out <file>').option('--now <seconds>')
    .action(async (o) => print(certToJson(await certDevice(o))));
  cert.command('show <file>').description('show a certificate or revocation as JSON').action((f: string) => print(showFile(f)));
  cert.command('revoke').description('revocation statement, signed by the issuer of the certificate')
    .requiredOption('--issuer-key <file>').requiredOption('--cert <file>', 'certificate to revoke')
    .requiredOption('--reason <reason>', REVOCATION_REASONS.join('|')).option('--from <seconds>', 'revoked from (default: now)')
    .requiredOption('--out <file>').option('--now <seconds>')
    .action(async (o) => print(await certRevoke(o)));
  cert.command('verify <chain...>').description('verify [device agency] or [agency] against a root certificate')
    .requiredOption('--root <file>').option('--at <seconds>', 'time to check at (default: now)')
    .option('--revocation <file...>', 'revocation statements to apply')
    .action((chain: string[], o: { root: string; at?: string; revocation?: string[] }) => print(certVerify({ root: o.root, chain, at: o.at, revocations: o.revocation })));
}
