import { describe, expect, test } from 'vitest';
import { connectDevice, reading, useGatewayWithDevices } from './harness.js';
import { openCheckpoint, parseVerifierKey, leafHash, encodeLogEntry, toHex } from '../../protocol/index.js';

describe('gateway ingestion: accept and receipt', () => {
  const fx = useGatewayWithDevices(1);

  test('a signed reading gets a receipt whose leaf hash and checkpoint the device can check', async () => {
    const { t, dev } = fx;
    const c = await connectDevice(t.gw, dev);
    const bytes = await reading(dev, 1);
    await c.publish(bytes);
    const a = await c.next();
    expect(a.kind).toBe('receipt');
    if (a.kind !== 'receipt') return;
    const r = a.receipt;
    expect(r.seq).toBe(1);
    const entry = encodeLogEntry({ type: 1, index: r.index, receivedAtMs: r.receivedAtMs, payload: bytes, certRef: r.certRef });
    expect(toHex(leafHash(entry))).toBe(toHex(r.leafHash));
    const cp = openCheckpoint(r.checkpoint, [parseVerifierKey(t.gw.checkpointVerifierKey)]);
    expect(cp.size).toBeGreaterThan(r.index);
    await c.end();
  });
});
