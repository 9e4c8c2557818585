/**
 * SPEC §4: an answer's payload (a receipt or a rejection) is at most 4,096 bytes, what a device sizes its MQTT
 * receive buffer for. A receipt carries the checkpoint, which holds the gateway's `origin` twice (first line, key
 * name): the setting is bounded so that the largest receipt fits, and holds no '+', which would make the checkpoint
 * verifier key unsplittable (SPEC §7: split at the first two '+').
 */
import { describe, expect, test } from 'vitest';
import {
  EMPTY_REVOCATIONS, MAX_RECEIPT_BYTES, blockExtension, decodeReceipt, decodeRejection, ed25519NoteSigner, encodeReceipt, encodeRejection,
  revocationsExtension, signCheckpoint,
} from '../../protocol/index.js';
import { ConfigError, loadConfig } from '../../gateway/config.js';
import { MAX_ORIGIN_LENGTH } from '../../gateway/config-defaults.js';

const MAX = Number.MAX_SAFE_INTEGER;
const configCode = (origin: string): string => {
  try {
    loadConfig({ origin }, {});
    return 'VALID';
  } catch (err) {
    return err instanceof ConfigError ? err.code : String(err);
  }
};

describe('answers fit the 4,096 bytes a device makes room for (SPEC §4)', () => {
  test('the gateway refuses an origin over 256 characters, or one holding a "+" (CONFIG_INVALID)', () => {
    expect(configCode('€'.repeat(MAX_ORIGIN_LENGTH))).toBe('VALID');
    expect(configCode('x'.repeat(MAX_ORIGIN_LENGTH + 1))).toBe('CONFIG_INVALID');
    expect(configCode('gw.example/log+1')).toBe('CONFIG_INVALID');
    expect(configCode('gw example')).toBe('CONFIG_INVALID');
  });

  test('the largest receipt (longest origin, largest numbers, both extension lines) fits and decodes', async () => {
    const origin = '\u20ac'.repeat(MAX_ORIGIN_LENGTH); // 3 bytes each in UTF-8
    const signer = ed25519NoteSigner(origin, new Uint8Array(32).fill(7));
    const revocations = revocationsExtension({ ...EMPTY_REVOCATIONS, count: MAX });
    const checkpoint = await signCheckpoint({ origin, size: MAX, root: new Uint8Array(32), extensions: [blockExtension(MAX, new Uint8Array(1)), revocations] }, signer);
    const receipt = { seq: MAX, index: MAX - 1, receivedAtMs: MAX, certRef: new Uint8Array(32), leafHash: new Uint8Array(32), checkpoint };
    const bytes = encodeReceipt(receipt);
    expect(bytes.length).toBeLessThanOrEqual(MAX_RECEIPT_BYTES);
    expect(decodeReceipt(bytes)).toEqual(receipt);
  });

  test('the largest rejection (message and path quoting 3-byte characters, clipped) fits and decodes', () => {
    const bytes = encodeRejection({ seq: MAX, code: 'STORAGE_UNAVAILABLE', message: '\u20ac'.repeat(5000), path: '\u20ac'.repeat(1000) });
    expect(bytes.length).toBeLessThanOrEqual(MAX_RECEIPT_BYTES);
    expect(decodeRejection(bytes).code).toBe('STORAGE_UNAVAILABLE');
  });
});
