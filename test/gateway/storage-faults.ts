/** Shared by the storage failure tests: fail the store, as a device sees it. */
import { expect } from 'vitest';
import type { RunningGateway } from '../../gateway/gateway.js';
import { connectDevice, reading, type Device } from './harness.js';

/**
 * Arm a write fault below the fail-stop layer (`arm`), then publish the device's reading `seq`: it is answered
 * STORAGE_UNAVAILABLE, as the failed block's readings are.
 */
export async function failStoreWith(gw: RunningGateway, dev: Device, seq: number, arm: () => void): Promise<void> {
  arm();
  const c = await connectDevice(gw, dev);
  await c.publish(await reading(dev, seq));
  const a = await c.next();
  expect(a.kind === 'rejection' && a.rejection.code).toBe('STORAGE_UNAVAILABLE');
  await c.end();
}
