/**
 * Pipeline.drain() waits for readings taken through `process` as for those taken through `accept` (suspected last
 * session, confirmed: `process` was not counted in flight, so drain() returned while its reading was still on its way
 * to a block, and shutdown went on to close the store under it). The block write is held before it reaches the store.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { BlockWriteHold } from './block-hold.js';
import { Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

let t: TestGateway;
let dev: Device;
const holds = new BlockWriteHold();

beforeAll(async () => {
  const pki = await Pki.create();
  t = await startTestGateway(pki, { blockMaxMs: 5 }, undefined, { wrapBackend: holds.wrap });
  const agency = await pki.agency('epa.example');
  dev = await pki.device(agency);
  await register(t.gw, agency, [dev]);
}, 60_000);
afterAll(() => t.stop());

test('drain() does not return while a processed reading waits for its block', async () => {
  let release!: () => void;
  holds.before = new Promise((r) => (release = r));
  const held = new Promise<void>((r) => (holds.entered = r));
  const outcome = t.gw.pipeline.process(dev.id, await reading(dev, 1), Date.now());
  await held;
  let drained = false;
  const draining = t.gw.pipeline.drain(async () => {}).then(() => (drained = true));
  await new Promise((r) => setTimeout(r, 200));
  expect(drained).toBe(false); // was true: nothing counted in flight
  holds.before = null;
  release();
  const o = await outcome;
  await draining;
  expect(o.ok).toBe(true);
  expect(drained).toBe(true);
}, 30_000);
