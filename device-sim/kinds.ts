/**
 * What each kind of device measures: plausible values that drift (bounded random walks), in the units the
 * protocol carries (UCUM codes: "Cel", "%", "ug/m3", "L", "L/min"), as integer value * 10^scale.
 * Fingerprint readers report biometric events only: purpose, match/no-match, score and the salted subject
 * commitment SHA-256(salt || subject id); never an image or a template (SPEC §3).
 */
import { subjectCommitment, type ReadingBody } from '../protocol/index.js';
import type { DeviceKind } from './state.js';

export const READING_TYPES: Record<DeviceKind, string[]> = {
  'fingerprint-reader': ['biometric'],
  'temperature-sensor': ['temperature', 'humidity'],
  'air-quality-sensor': ['pm25', 'pm10', 'no2'],
  'water-meter': ['water-volume', 'water-flow'],
};

/** Bounded random walk. */
class Walk {
  constructor(public v: number, private readonly step: number, private readonly min: number, private readonly max: number, private readonly rnd: () => number) {}
  next(): number {
    this.v = Math.min(this.max, Math.max(this.min, this.v + (this.rnd() * 2 - 1) * this.step));
    return this.v;
  }
}

export type Generator = () => ReadingBody;

/** A generator of readings for one device; `rnd` in [0, 1) (Math.random by default). */
export function makeGenerator(kind: DeviceKind, opts: { salt?: Uint8Array; purpose?: string; rnd?: () => number } = {}): Generator {
  const rnd = opts.rnd ?? Math.random;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  switch (kind) {
    case 'temperature-sensor': {
      const t = new Walk(18 + rnd() * 8, 0.15, -30, 50, rnd);
      const h = new Walk(40 + rnd() * 20, 0.6, 5, 100, rnd);
      let i = 0;
      return () =>
        i++ % 2 === 0
          ? { kind: 'sensor', type: 'temperature', value: Math.round(t.next() * 10), scale: -1, unit: 'Cel' }
          : { kind: 'sensor', type: 'humidity', value: Math.round(h.next() * 10), scale: -1, unit: '%' };
    }
    case 'air-quality-sensor': {
      const pm25 = new Walk(8 + rnd() * 20, 1.2, 0, 500, rnd);
      const no2 = new Walk(15 + rnd() * 25, 1.5, 0, 400, rnd);
      let i = 0;
      return () => {
        const p = pm25.next();
        switch (i++ % 3) {
          case 0: return { kind: 'sensor', type: 'pm25', value: Math.round(p * 10), scale: -1, unit: 'ug/m3' };
          case 1: return { kind: 'sensor', type: 'pm10', value: Math.round(p * 16), scale: -1, unit: 'ug/m3' };
          default: return { kind: 'sensor', type: 'no2', value: Math.round(no2.next() * 10), scale: -1, unit: 'ug/m3' };
        }
      };
    }
    case 'water-meter': {
      let total = Math.floor(rnd() * 1_000_000); // litres on the register
      const flow = new Walk(6 + rnd() * 6, 0.8, 0, 40, rnd);
      let i = 0;
      return () => {
        const f = flow.next();
        total += Math.round(f);
        return i++ % 2 === 0
          ? { kind: 'sensor', type: 'water-volume', value: total, scale: 0, unit: 'L' }
          : { kind: 'sensor', type: 'water-flow', value: Math.round(f * 100), scale: -2, unit: 'L/min' };
      };
    }
    case 'fingerprint-reader': {
      const salt = opts.salt;
      if (!salt) throw new Error('a fingerprint reader needs the agency-provisioned salt');
      const purpose = opts.purpose ?? 'identity-check';
      const subjects = Array.from({ length: 50 }, (_, k) => `citizen-${String(100000 + Math.floor(rnd() * 900000))}-${k}`);
      return () => {
        const match = rnd() < 0.92;
        const score = match ? 700 + Math.floor(rnd() * 300) : Math.floor(rnd() * 400);
        return { kind: 'biometric', purpose, result: match ? 'match' : 'no-match', score, subjectCommitment: subjectCommitment(salt, pick(subjects)) };
      };
    }
  }
}
