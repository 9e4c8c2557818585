/**
 * trustWithLogKeys (gateway/trust-with-log-keys.ts): the log's key history bounds its own keys in the gateway's trust
 * material; a trust file may narrow a window of one of them, never widen it. The running gateway's case (a retired key
 * named without a window) is test/gateway/verify-route-retired-key-window.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { ed25519NoteSigner, formatVerifierKey, generateSecretKey, parseTrust, ALG_EDDSA } from '../../protocol/index.js';
import { trustWithLogKeys } from '../../gateway/trust-with-log-keys.js';

const key = () => formatVerifierKey('log.example/log', ed25519NoteSigner('log.example/log', generateSecretKey(ALG_EDDSA)).publicKey);
const [retired, current, other] = [key(), key(), key()];
const SWITCH = 1_800_000_000;
const logKeys = [{ key: retired, notAfter: SWITCH + 1 }, { key: current, notBefore: SWITCH }];
const windows = (file: { key: string; notBefore?: number; notAfter?: number }[]) =>
  trustWithLogKeys(parseTrust({ checkpointKeys: file }), logKeys).checkpointKeys.map((k) => ({
    key: formatVerifierKey(k.verifier.name, k.verifier.publicKey), notBefore: k.notBefore, notAfter: k.notAfter,
  }));

describe('the log bounds its own keys in the trust material', () => {
  test('named without a window: the log\'s; not named: added with the log\'s; another key: as the file gives it', () => {
    expect(windows([{ key: retired }, { key: other, notAfter: 5 }])).toEqual([
      { key: retired, notBefore: undefined, notAfter: SWITCH + 1 },
      { key: other, notBefore: undefined, notAfter: 5 },
      { key: current, notBefore: SWITCH, notAfter: undefined },
    ]);
  });

  test('a window wider than the log\'s is narrowed to it; a narrower one is kept', () => {
    expect(windows([{ key: retired, notBefore: 10, notAfter: SWITCH + 500 }, { key: current, notBefore: SWITCH - 500, notAfter: SWITCH + 900 }])).toEqual([
      { key: retired, notBefore: 10, notAfter: SWITCH + 1 },
      { key: current, notBefore: SWITCH, notAfter: SWITCH + 900 },
    ]);
    expect(windows([{ key: retired, notAfter: SWITCH - 60 }])).toEqual([
      { key: retired, notBefore: undefined, notAfter: SWITCH - 60 },
      { key: current, notBefore: SWITCH, notAfter: undefined },
    ]);
  });

  test('a log never rotated (its key without a window): the file\'s window as given', () => {
    const material = trustWithLogKeys(parseTrust({ checkpointKeys: [{ key: current, notBefore: 7, notAfter: 9 }] }), [{ key: current }]);
    expect(material.checkpointKeys.map((k) => [k.notBefore, k.notAfter])).toEqual([[7, 9]]);
  });
});
