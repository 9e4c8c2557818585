import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  ed25519NoteSigner, formatCheckpoint, formatVerifierKey, openCheckpoint, openNote, parseCheckpoint, parseNote,
  parseVerifierKey, signCheckpoint, signNote,
} from '../../protocol/checkpoint.js';
import { fromBase64, toHex } from '../../protocol/bytes.js';
import { OriginProofError } from '../../protocol/errors.js';

// The example key and note of golang.org/x/mod/sumdb/note (note_test.go / package docs).
const VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const NOTE = `${TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
const seed = fromBase64(SKEY.split('+').slice(4).join('+')).slice(1);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OriginProofError);
    return (err as OriginProofError).code;
  }
  return 'OK';
}

describe('signed note (Go sumdb/note example)', () => {
  it('parses the verifier key and computes the same key ID', () => {
    const v = parseVerifierKey(VKEY);
    expect(v.name).toBe('PeterNeumann');
    expect(toHex(v.keyId)).toBe('c74f20a3');
    expect(formatVerifierKey(v.name, v.publicKey)).toBe(VKEY);
  });
  it('verifies the published note', () => {
    expect(openNote(NOTE, [parseVerifierKey(VKEY)])).toMatchObject({ text: TEXT, verified: ['PeterNeumann'] });
  });
  it('signs byte for byte like Go (Ed25519 is deterministic)', async () => {
    expect(await signNote(TEXT, [ed25519NoteSigner('PeterNeumann', seed)])).toBe(NOTE);
  });
  it('rejects a modified text, unknown-only keys and malformed keys', () => {
    expect(code(() => openNote(NOTE.replace('cryptography', 'cryptographY'), [parseVerifierKey(VKEY)]))).toBe('CHECKPOINT_INVALID');
    const other = ed25519NoteSigner('PeterNeumann', new Uint8Array(32).fill(7));
    expect(code(() => openNote(NOTE, [{ name: other.name, keyId: other.keyId, publicKey: other.publicKey }]))).toBe('CHECKPOINT_INVALID');
    expect(code(() => parseVerifierKey(VKEY.replace('c74f20a3', 'c74f20a4')))).toBe('CHECKPOINT_INVALID');
    expect(code(() => parseVerifierKey('PeterNeumann+c74f20a3'))).toBe('CHECKPOINT_INVALID');
    expect(code(() => parseNote(TEXT))).toBe('CHECKPOINT_INVALID');
    expect(code(() => parseNote(NOTE.replace('\u2014', '-')))).toBe('CHECKPOINT_INVALID');
  });
});

describe('tlog-checkpoint', () => {
  const signer = ed25519NoteSigner('example.com/log', new Uint8Array(32).fill(1));
  const trusted = [parseVerifierKey(formatVerifierKey(signer.name, signer.publicKey))];
  const cp = { origin: 'example.com/log', size: 20852163, root: new Uint8Array(32).fill(9), extensions: [] };

  it('formats and parses the body', () => {
    const body = formatCheckpoint(cp);
    expect(body).toBe(`example.com/log\n20852163\n${Buffer.from(cp.root).toString('base64')}\n`);
    expect(parseCheckpoint(body)).toEqual(cp);
    expect(parseCheckpoint('o\n0\n' + Buffer.alloc(32).toString('base64') + '\next\n').extensions).toEqual(['ext']);
  });
  it('rejects malformed bodies', () => {
    const r = Buffer.alloc(32).toString('base64');
    for (const bad of [`o\n01\n${r}\n`, `o\n1\n${r}`, `o\n-1\n${r}\n`, `\n1\n${r}\n`, 'o\n1\nAAAA\n', `o\n1\n${r}\n\n`, `o\n1\n`]) {
      expect(code(() => parseCheckpoint(bad))).toBe('CHECKPOINT_INVALID');
    }
  });
  it('signs and opens; a witness cosignature from an unknown key is ignored, a trusted one is checked', async () => {
    const note = await signCheckpoint(cp, signer);
    expect(openCheckpoint(note, trusted, { origin: 'example.com/log' })).toMatchObject({ size: cp.size, verified: ['example.com/log'] });
    const witness = ed25519NoteSigner('witness.example/w1', new Uint8Array(32).fill(2));
    const { text, signatures } = parseNote(note);
    const cosigned = await signNote(text, [witness], signatures);
    expect(openCheckpoint(cosigned, trusted).verified).toEqual(['example.com/log']);
    const wkey = parseVerifierKey(formatVerifierKey(witness.name, witness.publicKey));
    expect(openCheckpoint(cosigned, [...trusted, wkey]).verified).toEqual(['example.com/log', 'witness.example/w1']);
    // tamper with the witness signature: now it is a trusted key failing, which rejects the note
    const lines = cosigned.split('\n');
    const sig = Buffer.from(lines[5]!.split(' ')[2]!, 'base64');
    sig[10]! ^= 1;
    lines[5] = `${lines[5]!.split(' ').slice(0, 2).join(' ')} ${sig.toString('base64')}`;
    expect(code(() => openCheckpoint(lines.join('\n'), [...trusted, wkey]))).toBe('CHECKPOINT_INVALID');
    expect(code(() => openCheckpoint(note, trusted, { origin: 'other' }))).toBe('CHECKPOINT_INVALID');
    expect(code(() => openCheckpoint(note.replace('20852163', '20852164'), trusted))).toBe('CHECKPOINT_INVALID');
  });
  it('accepts an injected verifier (node:crypto on the server)', async () => {
    const note = await signCheckpoint(cp, signer);
    let calls = 0;
    openCheckpoint(note, trusted, { verify: (s, m, p) => { calls++; return ed25519.verify(s, m, p); } });
    expect(calls).toBe(1);
  });
});
