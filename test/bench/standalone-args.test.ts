/**
 * The standalone benches' command lines (bench/standalone-args.ts): an algorithm name the benches do not know ran no
 * fleet and printed an empty result (found by review: `--alg ed25519`), and a count that is no number ran NaN readings.
 */
import { describe, expect, test } from 'vitest';
import { ALG_EDDSA, ALG_ES256 } from '../../protocol/index.js';
import { standaloneArgs } from '../../bench/standalone-args.js';

const args = (...a: string[]) => standaloneArgs(['node', 'bench.js', ...a]);

describe('standalone bench arguments', () => {
  test('--alg takes eddsa, ed25519 and es256 in any case; without it both', () => {
    expect(args().algs()).toEqual([ALG_EDDSA, ALG_ES256]);
    expect(args('--alg', 'eddsa').algs()).toEqual([ALG_EDDSA]);
    expect(args('--alg', 'Ed25519').algs()).toEqual([ALG_EDDSA]);
    expect(args('--alg', 'ES256').algs()).toEqual([ALG_ES256]);
  });

  test('an unknown --alg is refused, not a run of no fleet', () => {
    expect(() => args('--alg', 'p256').algs()).toThrow(/--alg must be/);
    expect(() => args('--alg').algs()).toThrow(/--alg takes a value/);
  });

  test('--name N: a number, the default when absent, refused when not a number', () => {
    expect(args('--readings', '60').number('readings', 100)).toBe(60);
    expect(args().number('readings', 100)).toBe(100);
    expect(() => args('--readings', 'sixty').number('readings', 100)).toThrow(/--readings must be a number/);
    expect(() => args('--readings', '--pace', '0.8').number('readings', 100)).toThrow(/--readings takes a value/);
  });
});
