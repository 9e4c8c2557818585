/**
 * A real gateway (port 0, temp dir) that has taken one reading: an agency and a temperature sensor registered, the
 * sensor's first reading receipted, and that entry's proof bundle as GET /v1/entries/:index/bundle answers it. The
 * verifier page's tests drop or fetch it.
 */
import { connectDevice, Pki, reading, register, startTestGateway, type TestGateway } from '../gateway/harness.js';

export async function gatewayWithOneReading(): Promise<{ t: TestGateway; index: number; bundle: Uint8Array }> {
  const pki = await Pki.create();
  const t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
  const psb = await pki.agency('psb.example');
  const sensor = await pki.device(psb, { kind: 'temperature-sensor', types: ['temperature'] });
  await register(t.gw, psb, [sensor]);
  const c = await connectDevice(t.gw, sensor);
  await c.publish(await reading(sensor, 1));
  const a = await c.next();
  await c.end();
  if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a.rejection)}`);
  const index = a.receipt.index;
  const bundle = new Uint8Array(await (await fetch(`${t.gw.httpUrl}/v1/entries/${index}/bundle`)).arrayBuffer());
  return { t, index, bundle };
}
