import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { ed25519NoteSigner, signNote } from '../../protocol/checkpoint.js';
import { fromBase64 } from '../../protocol/bytes.js';
import { nodeEd25519NoteSigner } from '../../gateway/crypto/node-note-signer.js';

// The example key and note of golang.org/x/mod/sumdb/note (as in test/protocol/checkpoint.test.ts).
const SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const NOTE = `${TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
const seed = fromBase64(SKEY.split('+').slice(4).join('+')).slice(1);

describe('checkpoint signer on node:crypto', () => {
  test('signs the Go sumdb/note example byte for byte', async () => {
    expect(await signNote(TEXT, [nodeEd25519NoteSigner('PeterNeumann', seed)])).toBe(NOTE);
  });

  test('writes the same signatures as the pure signer (Ed25519 is deterministic) for any key and message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), (key, msg) => {
        const pure = ed25519NoteSigner('gw.example', key);
        const node = nodeEd25519NoteSigner('gw.example', key);
        expect(node.publicKey).toEqual(pure.publicKey);
        expect(node.keyId).toEqual(pure.keyId);
        expect(node.sign(msg)).toEqual(pure.sign(msg));
      }),
      { numRuns: 200 },
    );
  });
});
