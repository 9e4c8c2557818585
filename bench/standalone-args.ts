/** The command lines of the benches run alone (`node dist/bench/<bench>.js --name value ...`). */
import { ALG_EDDSA, ALG_ES256, algName, type Alg } from '../protocol/index.js';

export interface StandaloneArgs {
  /** the value after `--name`, if given (`--name` with no value throws) */
  text(name: string): string | undefined;
  /** `--name N` as a number, `def` when absent; not a number throws */
  number(name: string, def: number): number;
  /** a bare flag `--name` */
  has(name: string): boolean;
  /** `--alg eddsa|ed25519|es256`: that algorithm; without it both; another name throws */
  algs(): Alg[];
}

export function standaloneArgs(argv: readonly string[] = process.argv): StandaloneArgs {
  const text = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`--${name} takes a value`);
    return v;
  };
  return {
    text,
    number: (name, def) => {
      const v = text(name);
      if (v === undefined) return def;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${v}`);
      return n;
    },
    has: (name) => argv.includes(`--${name}`),
    // An unknown name ran no fleet at all and printed an empty result (found by review: `--alg ed25519`).
    algs: () => {
      const v = text('alg');
      if (v === undefined) return [ALG_EDDSA, ALG_ES256];
      const only = v.toUpperCase() === 'ED25519' ? algName(ALG_EDDSA).toUpperCase() : v.toUpperCase();
      const algs = ([ALG_EDDSA, ALG_ES256] as Alg[]).filter((alg) => only === algName(alg).toUpperCase());
      if (algs.length === 0) throw new Error(`--alg must be eddsa (or ed25519) or es256, got ${v}`);
      return algs;
    },
  };
}
