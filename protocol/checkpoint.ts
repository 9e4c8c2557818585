/**
 * Checkpoints: C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint: origin line, decimal tree size,
 * base64 root hash, optional non-empty extension lines) inside a C2SP signed note
 * (https://c2sp.org/signed-note, compatible with golang.org/x/mod/sumdb/note):
 *   note = text "\n" signature-line+ ; text ends in "\n"; separated at the last blank line;
 *   signature line = "— " key-name " " base64(4-byte key ID || signature) "\n"   (U+2014 em dash)
 *   Ed25519 key ID = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]
 *   verifier key   = name "+" hex(key ID) "+" base64(0x01 || public key)
 * Signatures from unknown keys (name and ID not both matching a trusted key) are ignored (witness
 * cosignatures); a failing signature from a trusted key rejects the note; at least one must verify.
 * Failures are CHECKPOINT_INVALID. Pure: Ed25519 through @noble/curves, verification injectable.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesEqual, concatBytes, fromBase64, fromHex, toBase64, toHex, utf8ToBytes } from './bytes.js';
import { ALG_EDDSA } from './algorithms.js';
import { assertUsableKey } from './cose-key.js';
import { fail } from './errors.js';
import { sha256 } from './hash.js';

const SIG_ED25519 = 0x01;
const EM_DASH_PREFIX = '\u2014 ';
/** Go's note.Open limit; the spec requires accepting at least 16. */
export const MAX_NOTE_SIGNATURES = 100;

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  extensions: string[];
}

export interface NoteSigner {
  name: string;
  keyId: Uint8Array;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface NoteVerifier {
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
}

export type Ed25519Verify = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;
const nobleVerify: Ed25519Verify = (sig, msg, pub) => {
  try {
    return ed25519.verify(sig, msg, pub, { zip215: false }); // RFC 8032 §5.1.7, as node:crypto and algorithms.ts
  } catch {
    return false;
  }
};

export interface NoteSignature {
  name: string;
  keyId: Uint8Array;
  signature: Uint8Array;
}

function checkKeyName(name: string, path: string): void {
  // C2SP signed-note: no Unicode space (Go's unicode.IsSpace: \p{White_Space}) and no '+'; well-formed text.
  if (name.length === 0 || /[\p{White_Space}+]/u.test(name) || /\p{Cs}/u.test(name)) fail('CHECKPOINT_INVALID', 'key name must be non-empty without spaces or "+"', path);
}

/** SHA-256(name || 0x0A || 0x01 || public key)[:4] (signed-note "Ed25519 signatures"). */
export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8ToBytes(name), new Uint8Array([0x0a, SIG_ED25519]), publicKey)).slice(0, 4);
}

export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  checkKeyName(name, 'name');
  return `${name}+${toHex(noteKeyId(name, publicKey))}+${toBase64(concatBytes(new Uint8Array([SIG_ED25519]), publicKey))}`;
}

/** Parse `<name>+<hex key ID>+<base64(0x01 || key)>`, checking the ID matches the key. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  // Names never contain '+', but the base64 key may: split at the first two '+' only.
  const m = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(vkey);
  if (!m) fail('CHECKPOINT_INVALID', 'malformed verifier key', 'key');
  const [, name, idHex, keyB64] = m as unknown as [string, string, string, string];
  checkKeyName(name, 'key');
  let key: Uint8Array;
  try {
    key = fromBase64(keyB64);
  } catch {
    return fail('CHECKPOINT_INVALID', 'verifier key is not base64', 'key');
  }
  if (key.length !== 33 || key[0] !== SIG_ED25519) fail('CHECKPOINT_INVALID', 'verifier key is not an Ed25519 key', 'key');
  const publicKey = key.slice(1);
  try {
    assertUsableKey({ alg: ALG_EDDSA, raw: publicKey }, 'key'); // not small order, canonical: else anyone could sign
  } catch (err) {
    fail('CHECKPOINT_INVALID', `verifier key: ${(err as Error).message}`, 'key');
  }
  const keyId = fromHex(idHex);
  if (!bytesEqual(keyId, noteKeyId(name, publicKey))) fail('CHECKPOINT_INVALID', 'verifier key ID does not match the key', 'key');
  return { name, keyId, publicKey };
}

/** A pure (noble) Ed25519 note signer from a 32-byte secret key (seed). */
export function ed25519NoteSigner(name: string, secretKey: Uint8Array): NoteSigner & { publicKey: Uint8Array } {
  checkKeyName(name, 'name');
  const publicKey = ed25519.getPublicKey(secretKey);
  return { name, publicKey, keyId: noteKeyId(name, publicKey), sign: (msg) => ed25519.sign(msg, secretKey) };
}

function checkText(text: string, path: string): void {
  if (!text.endsWith('\n')) fail('CHECKPOINT_INVALID', 'note text must end in a newline', path);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x09\x0b-\x1f]/.test(text)) fail('CHECKPOINT_INVALID', 'note contains control characters', path);
}

/** Sign a note text with each signer: text, blank line, one signature line per signer. */
export async function signNote(text: string, signers: readonly NoteSigner[], existing: readonly NoteSignature[] = []): Promise<string> {
  checkText(text, 'text');
  const msg = utf8ToBytes(text);
  const lines = existing.map(formatSignatureLine);
  for (const s of signers) {
    checkKeyName(s.name, 'signer');
    lines.push(formatSignatureLine({ name: s.name, keyId: s.keyId, signature: await s.sign(msg) }));
  }
  return `${text}\n${lines.join('')}`;
}

function formatSignatureLine(s: NoteSignature): string {
  return `${EM_DASH_PREFIX}${s.name} ${toBase64(concatBytes(s.keyId, s.signature))}\n`;
}

/** Split a note into its text and (unverified) signatures. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  checkText(note, 'note');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) fail('CHECKPOINT_INVALID', 'note has no signature block', 'note');
  const text = note.slice(0, split + 1);
  const sigLines = note.slice(split + 2).split('\n');
  sigLines.pop(); // after the final newline
  if (sigLines.length === 0) fail('CHECKPOINT_INVALID', 'note has no signatures', 'note');
  if (sigLines.length > MAX_NOTE_SIGNATURES) fail('CHECKPOINT_INVALID', 'note has too many signatures', 'note');
  const signatures = sigLines.map((line, i) => {
    const path = `signatures[${i}]`;
    if (!line.startsWith(EM_DASH_PREFIX)) fail('CHECKPOINT_INVALID', 'malformed signature line', path);
    const rest = line.slice(EM_DASH_PREFIX.length);
    const sp = rest.indexOf(' ');
    if (sp < 0 || rest.indexOf(' ', sp + 1) >= 0) fail('CHECKPOINT_INVALID', 'malformed signature line', path);
    const name = rest.slice(0, sp);
    checkKeyName(name, path);
    let raw: Uint8Array;
    try {
      raw = fromBase64(rest.slice(sp + 1));
    } catch {
      return fail('CHECKPOINT_INVALID', 'signature is not base64', path);
    }
    if (raw.length < 5) fail('CHECKPOINT_INVALID', 'signature too short', path);
    return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { text, signatures };
}

/**
 * Verify a note against trusted keys; returns its text and the names that verified. Unknown signatures
 * are ignored; a bad signature from a trusted key rejects the note; none verifying rejects it.
 */
export function openNote(note: string, trusted: readonly NoteVerifier[], verify: Ed25519Verify = nobleVerify): { text: string; verified: string[]; signatures: NoteSignature[] } {
  const { text, signatures } = parseNote(note);
  const msg = utf8ToBytes(text);
  const verified: string[] = [];
  for (const s of signatures) {
    const key = trusted.find((k) => k.name === s.name && bytesEqual(k.keyId, s.keyId));
    if (!key) continue;
    if (s.signature.length !== 64 || !verify(s.signature, msg, key.publicKey)) fail('CHECKPOINT_INVALID', `signature by ${s.name} does not verify`, 'signature');
    if (!verified.includes(s.name)) verified.push(s.name);
  }
  if (verified.length === 0) fail('CHECKPOINT_INVALID', 'note is not signed by a trusted key', 'signature');
  return { text, verified, signatures };
}

/** The checkpoint body (tlog-checkpoint "Note text"). */
export function formatCheckpoint(cp: Checkpoint): string {
  if (cp.origin.length === 0 || cp.origin.includes('\n')) fail('CHECKPOINT_INVALID', 'origin must be one non-empty line', 'origin');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) fail('CHECKPOINT_INVALID', 'size must be a non-negative integer', 'size');
  if (cp.root.length !== 32) fail('CHECKPOINT_INVALID', 'root must be 32 bytes', 'root');
  for (const e of cp.extensions) if (e.length === 0 || e.includes('\n')) fail('CHECKPOINT_INVALID', 'extension lines must be non-empty single lines', 'extensions');
  return [cp.origin, String(cp.size), toBase64(cp.root), ...cp.extensions].map((l) => `${l}\n`).join('');
}

export function parseCheckpoint(text: string): Checkpoint {
  checkText(text, 'checkpoint');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3 || lines.some((l) => l.length === 0)) fail('CHECKPOINT_INVALID', 'checkpoint needs origin, size and root lines, none empty', 'checkpoint');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) fail('CHECKPOINT_INVALID', 'malformed tree size', 'size');
  let root: Uint8Array;
  try {
    root = fromBase64(rootText);
  } catch {
    return fail('CHECKPOINT_INVALID', 'root hash is not base64', 'root');
  }
  if (root.length !== 32) fail('CHECKPOINT_INVALID', 'root hash must be 32 bytes', 'root');
  return { origin, size: Number(sizeText), root, extensions };
}

/** Sign a checkpoint; the log's key name should match the origin (tlog-checkpoint "Signatures"). */
export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): Promise<string> {
  return signNote(formatCheckpoint(cp), [signer]);
}

/** Verify a checkpoint note against trusted keys (and, if given, the expected origin). */
export function openCheckpoint(
  note: string, trusted: readonly NoteVerifier[], opts: { origin?: string; verify?: Ed25519Verify } = {},
): Checkpoint & { verified: string[] } {
  const { text, verified } = openNote(note, trusted, opts.verify);
  const cp = parseCheckpoint(text);
  if (opts.origin !== undefined && cp.origin !== opts.origin) fail('CHECKPOINT_INVALID', `checkpoint origin ${cp.origin} is not ${opts.origin}`, 'origin');
  return { ...cp, verified };
}
