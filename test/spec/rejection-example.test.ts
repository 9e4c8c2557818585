/**
 * SPEC §8's byte-level rejection example is what a real gateway sends: a device with seq 43 accepted publishes
 * another reading with seq 42, and the payload on its rejections topic is the example's bytes, byte for byte.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { rejectionsTopic, toHex } from '../../protocol/index.js';
import { connectDevice, reading, useGatewayWithDevices } from '../gateway/harness.js';

const spec = readFileSync(new URL('../../firmware-specs/SPEC.md', import.meta.url), 'utf8');

/** The hex of the example: on each line of its block, the leading tokens that are whole bytes of hex. */
function exampleHex(): string {
  const from = spec.indexOf('Example: the `REPLAY` of a reading with seq 42');
  expect(from).toBeGreaterThan(0);
  const start = spec.indexOf('```\n', from) + 4;
  const block = spec.slice(start, spec.indexOf('```', start));
  let hex = '';
  for (const line of block.split('\n')) {
    for (const token of line.trim().split(/\s+/)) {
      if (!/^([0-9a-f]{2})+$/.test(token)) break;
      hex += token;
    }
  }
  return hex;
}

describe('SPEC §8 rejection example', () => {
  const fx = useGatewayWithDevices(1);

  test('is the REPLAY a real gateway sends for seq 42 after seq 43, byte for byte (85 bytes)', async () => {
    const c = await connectDevice(fx.t.gw, fx.dev);
    try {
      const raw: Buffer[] = [];
      c.client.on('message', (topic, payload) => topic === rejectionsTopic(fx.dev.id) && raw.push(payload));
      await c.publish(await reading(fx.dev, 43));
      expect((await c.next()).kind).toBe('receipt');
      await c.publish(await reading(fx.dev, 42));
      const a = await c.next();
      expect(a.kind === 'rejection' && a.rejection.code).toBe('REPLAY');
      expect(toHex(raw[0]!)).toBe(exampleHex());
      expect(raw[0]!.length).toBe(85);
    } finally {
      await c.end();
    }
  });
});
