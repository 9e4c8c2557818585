/** Reading /metrics in tests: one sample's value, polling a condition. */
import type { RunningGateway } from '../../gateway/gateway.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function metricsText(gw: RunningGateway): Promise<string> {
  return (await gw.app.inject({ method: 'GET', url: '/metrics' })).body;
}

/** One sample's value (`series` as it appears, labels included); throws when the series is absent. */
export async function sample(gw: RunningGateway, series: string): Promise<number> {
  const text = await metricsText(gw);
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no series ${series} in /metrics`);
  return Number(m[1]);
}

export async function waitFor(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(20);
  }
  return cond();
}
