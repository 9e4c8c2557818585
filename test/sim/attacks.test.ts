import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ATTACKS, EXPECTED, runAttack, type AttackContext } from '../../device-sim/index.js';
import { startSimGateway, type SimGateway } from './helpers.js';

describe('attack modes: each is rejected with its code', () => {
  let t: SimGateway;
  let ctx: AttackContext;
  beforeAll(async () => {
    t = await startSimGateway();
    ctx = { agency: t.agency, gateway: t.endpoint, maxReadingBytes: t.gw.config.maxReadingBytes, timeoutMs: 8_000 };
  });
  afterAll(() => t.stop());

  test.concurrent.each([...ATTACKS])('%s', async (name) => {
    const r = await runAttack(name, ctx);
    expect(r.got, r.detail).toBe(EXPECTED[name]);
  });
});
