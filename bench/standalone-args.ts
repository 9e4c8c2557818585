/** The command lines of the benches run alone (`node dist/bench/<bench>.js --name value ...`). */
import { ALG_EDDSA, ALG_ES256, algName, type Alg } from '../protocol/index.js';

export interface StandaloneArgs {
  /** the value after `--name`, if given */
  text(name: string): string | undefined;
  /** `--name N` as a number, `def` when absent */
  number(name: string, def: number): number;
  /** a bare flag `--name` */
  has(name: string): boolean;
  /** `--alg eddsa|es256`: that algorithm; without it both */
  algs(): Alg[];
}

export function standaloneArgs(argv: readonly string[] = process.argv): StandaloneArgs {
  const text = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    text,
    number: (name, def) => Number(text(name) ?? def),
    has: (name) => argv.includes(`--${name}`),
    algs: () => {
      const only = text('alg')?.toUpperCase();
      return ([ALG_EDDSA, ALG_ES256] as Alg[]).filter((alg) => only === undefined || only === algName(alg).toUpperCase());
    },
  };
}
