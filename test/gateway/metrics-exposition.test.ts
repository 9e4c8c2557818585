/**
 * /metrics as Prometheus reads it (review of the metrics): the text format parsed strictly, line by line, and the
 * naming conventions an operator's queries rely on (`_total` on counters only, base units, histogram series
 * complete); each gateway's own registry, so that two in one process (as tests run them) do not share a count.
 * Real gateways, real mqtt.js clients.
 */
import fs from 'node:fs';
import { describe, expect, test, vi } from 'vitest';
import { metricsText, sample, waitFor } from './metrics-sample.js';
import { connectDevice, gatewayWithDevices, reading, useGatewayWithDevices } from './harness.js';

interface Family {
  type: string;
  help: boolean;
  samples: { name: string; labels: Map<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;

/** The text format, version 0.0.4, read as strictly as Prometheus does; throws at the first line it would refuse. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: { name: string; family: Family } | null = null;
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // empty lines are ignored (prom-client puts one between families)
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      expect(name, line).toMatch(NAME);
      const family = families.get(name) ?? { type: 'untyped', help: false, samples: [] };
      if (!families.has(name)) {
        families.set(name, family);
        current = { name, family };
      } else {
        expect(current?.name, `${name}: its HELP and TYPE lines apart`).toBe(name);
        expect(family.samples, `${name}: a HELP or TYPE line after its samples`).toHaveLength(0);
      }
      if (kind === 'HELP') {
        expect(family.help, `${name}: two HELP lines`).toBe(false);
        expect(rest, `${name}: a HELP text with a stray backslash`).toMatch(/^(?:[^\\]|\\[\\n])*$/);
        family.help = true;
      } else {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped'], line).toContain(rest);
        family.type = rest;
      }
      continue;
    }
    expect(line.startsWith('#'), `an unknown comment: ${line}`).toBe(false);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    expect(m, `not a sample: ${line}`).not.toBeNull();
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const labels = new Map<string, string>();
    if (labelText) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < labelText.length) {
        const at = LABEL.lastIndex;
        const l = LABEL.exec(labelText);
        expect(l, `a label at ${at} of ${line}`).not.toBeNull();
        expect(labels.has(l![1]!), `a label twice: ${line}`).toBe(false);
        labels.set(l![1]!, l![2]!);
      }
    }
    expect(/^(?:[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+)|[+-]Inf|NaN)$/i.test(valueText), `not a value: ${line}`).toBe(true);
    const series = `${name}{${[...labels].sort().map(([k, v]) => `${k}=${v}`).join(',')}}`;
    expect(seen.has(series), `a series twice: ${series}`).toBe(false);
    seen.add(series);
    // A sample belongs to the family above it: its name, or for a histogram its name with _bucket, _sum or _count.
    expect(current, `a sample before any family: ${line}`).not.toBeNull();
    const { name: fname, family } = current!;
    const allowed = family.type === 'histogram' ? [`${fname}_bucket`, `${fname}_sum`, `${fname}_count`] : family.type === 'summary' ? [fname, `${fname}_sum`, `${fname}_count`] : [fname];
    expect(allowed, `${name} under the family ${fname} (${family.type})`).toContain(name);
    family.samples.push({ name, labels, value: Number(valueText.replace(/^\+?Inf$/i, 'Infinity')) });
  }
  return families;
}

describe('GET /metrics', () => {
  const fx = useGatewayWithDevices(1);

  test('parses as the Prometheus text format; our metrics follow its naming conventions; histograms are whole', async () => {
    const { t, dev } = fx;
    const c = await connectDevice(t.gw, dev);
    await c.publish(await reading(dev, 1));
    await c.publish(new Uint8Array([0xff])); // not CBOR: a rejection
    expect((await c.next()).kind).toBe('receipt');
    expect((await c.next()).kind).toBe('rejection');
    await c.end();
    const res = await t.gw.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parseExposition(res.body);

    const ours = [...families].filter(([name]) => name.startsWith('originproof_') && !/^originproof_(?:process|nodejs)_/.test(name));
    expect(ours.length).toBeGreaterThan(20);
    for (const [name, f] of ours) {
      expect(f.help, `${name}: no HELP`).toBe(true);
      expect(['counter', 'gauge', 'histogram'], `${name}: untyped`).toContain(f.type);
      // `_total` is a counter's, and every counter's; units are base units, named last
      expect(name.endsWith('_total'), `${name} (${f.type})`).toBe(f.type === 'counter');
      expect(name, 'not a base unit').not.toMatch(/_(?:ms|milliseconds|microseconds|minutes|hours|kb|kilobytes|mb|megabytes|percent)(?:_total)?$/);
      for (const s of f.samples) expect(Number.isFinite(s.value) || s.labels.get('le') === '+Inf', `${s.name} ${s.value}`).toBe(true);
    }
    // The process's own metrics are there, under the gateway's prefix (README "Metrics").
    for (const name of ['originproof_process_resident_memory_bytes', 'originproof_process_cpu_seconds_total', 'originproof_process_open_fds', 'originproof_nodejs_eventloop_lag_seconds']) {
      expect(families.has(name), name).toBe(true);
    }

    // every histogram: per label set, ascending bounds ending at +Inf, cumulative counts, +Inf's equal to _count
    for (const [name, f] of families) {
      if (f.type !== 'histogram') continue;
      const sets = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
      for (const s of f.samples) {
        const key = [...s.labels].filter(([k]) => k !== 'le').sort().map(([k, v]) => `${k}=${v}`).join(',');
        const set = sets.get(key) ?? { buckets: [] };
        sets.set(key, set);
        if (s.name.endsWith('_bucket')) set.buckets.push([Number(s.labels.get('le')!.replace('+Inf', 'Infinity')), s.value]);
        else if (s.name.endsWith('_count')) set.count = s.value;
        else set.sum = s.value;
      }
      for (const [key, set] of sets) {
        const where = `${name}{${key}}`;
        expect(set.buckets.at(-1)?.[0], `${where}: no +Inf bucket`).toBe(Infinity);
        expect(set.buckets.at(-1)?.[1], where).toBe(set.count);
        expect(set.sum, `${where}: no _sum`).toBeTypeOf('number');
        for (let i = 1; i < set.buckets.length; i++) {
          expect(set.buckets[i]![0], where).toBeGreaterThan(set.buckets[i - 1]![0]);
          expect(set.buckets[i]![1], where).toBeGreaterThanOrEqual(set.buckets[i - 1]![1]);
        }
      }
    }
    // what was measured is there: one receipt, one rejection, their latencies under the top bucket
    expect(await sample(t.gw, 'originproof_pipeline_seconds_count{outcome="receipt"}')).toBe(1);
    expect(await sample(t.gw, 'originproof_pipeline_seconds_count{outcome="rejection"}')).toBe(1);
    expect(await sample(t.gw, 'originproof_pipeline_seconds_bucket{le="30",outcome="receipt"}')).toBe(1);
  });
});

describe('two gateways in one process', () => {
  test('each counts its own: a reading taken by one is not in the other, and neither registry refuses the other', async () => {
    const one = await gatewayWithDevices(1);
    const two = await gatewayWithDevices(1);
    try {
      const c = await connectDevice(one.t.gw, one.devices[0]!);
      await c.publish(await reading(one.devices[0]!, 1));
      expect((await c.next()).kind).toBe('receipt');
      await c.end();
      expect(await sample(one.t.gw, 'originproof_readings_accepted_total{kind="reading"}')).toBe(1);
      expect(await sample(two.t.gw, 'originproof_readings_accepted_total{kind="reading"}')).toBe(0);
      expect(await sample(two.t.gw, 'originproof_pipeline_seconds_count{outcome="receipt"}')).toBe(0);
      parseExposition(await metricsText(two.t.gw));
    } finally {
      await one.t.stop();
      await two.t.stop();
    }
  });
});

describe("the process's own metrics", () => {
  const fx = useGatewayWithDevices(1);

  // Found by review: /metrics is on the public API and unauthenticated, and prom-client's open-files metric reads
  // /proc/self/fd synchronously at each scrape: ~13 ms of blocked event loop (a 25 ms scrape) with 10,000 descriptors
  // open, as at 10,000 device connections, for anyone to repeat. The gateway's own metrics stay fresh at each scrape.
  test('are read at most once a second, however often /metrics is asked for; the gateway\'s own are read each time', async () => {
    const { t, dev } = fx;
    const readdir = vi.spyOn(fs, 'readdirSync');
    try {
      const fdReads = () => readdir.mock.calls.filter(([path]) => String(path).startsWith('/proc/self/fd')).length;
      await metricsText(t.gw);
      const c = await connectDevice(t.gw, dev);
      const before = fdReads();
      const start = performance.now();
      for (let i = 0; i < 20; i++) await metricsText(t.gw);
      expect(await sample(t.gw, 'originproof_connected_devices')).toBe(1);
      // 21 scrapes: the descriptors read once per second begun meanwhile at most (a loaded machine may take over one)
      expect(fdReads() - before).toBeLessThanOrEqual(1 + Math.floor((performance.now() - start) / 1000));
      await c.end();
      expect(await waitFor(async () => (await sample(t.gw, 'originproof_connected_devices')) === 0, 2000)).toBe(true);
      expect(parseExposition(await metricsText(t.gw)).has('originproof_process_open_fds')).toBe(true);
    } finally {
      readdir.mockRestore();
    }
  });
});
