/**
 * The layering docs/DESIGN.md ("Layers") and README's Layout state, read off the sources' import graph: protocol/ is
 * pure (no node: module, nothing of ours but itself: it runs in browsers), ledger/ builds on protocol/ alone, the
 * gateway on both, device-sim/ (the firmware's reference) on protocol/ alone, node-fs/ on node builtins alone, and the
 * verifier page (web/) on protocol/ alone.
 * Every import form counts: static, type-only, re-exports and dynamic import() with a literal specifier.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBuiltin } from 'node:module';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Folders of ours an import may reach, per layer (itself always allowed). */
const MAY_IMPORT: Record<string, { ours: string[]; node: boolean; packages: boolean }> = {
  protocol: { ours: [], node: false, packages: true },
  'node-fs': { ours: [], node: true, packages: false },
  ledger: { ours: ['protocol', 'node-fs'], node: true, packages: true },
  gateway: { ours: ['protocol', 'node-fs', 'ledger'], node: true, packages: true },
  'device-sim': { ours: ['protocol', 'node-fs'], node: true, packages: true },
  // the verifier page runs in browsers, on protocol/ alone (its build config, run by node, aside)
  web: { ours: ['protocol'], node: false, packages: true },
};
/** Files outside their folder's rule: the page's Vite config runs in node at build time, never in the page. */
const BUILD_CONFIGS = new Set(['web/vite.config.ts']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !BUILD_CONFIGS.has(relative(root, f).split(/[\\/]/).join('/')));
}

/** Each import of a file as the layer (top folder) it reaches, `node:` for builtins or `pkg:` for a package. */
function importEdges(file: string): { specifier: string; target: string }[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map(({ fileName: specifier }) => {
    if (specifier.startsWith('.')) return { specifier, target: relative(root, resolve(dirname(file), specifier)).split(/[\\/]/)[0]! };
    if (specifier.startsWith('node:')) return { specifier, target: 'node:' };
    return { specifier, target: `pkg:${specifier}` };
  });
}

/** Wrong edges of one layer, as `file -> specifier`. */
function wrongEdges(layer: string): string[] {
  const rule = MAY_IMPORT[layer]!;
  const wrong: string[] = [];
  for (const file of sources(join(root, layer))) {
    for (const { specifier, target } of importEdges(file)) {
      const ok =
        target === layer ||
        rule.ours.includes(target) ||
        (target === 'node:' && rule.node) ||
        (target.startsWith('pkg:') && rule.packages);
      if (!ok) wrong.push(`${relative(root, file)} -> ${specifier}`);
    }
  }
  return wrong;
}

describe('the layers import only downwards (docs/DESIGN.md "Layers")', () => {
  it('sees the imports it checks (bare node builtins count as node:)', () => {
    // A builtin without the node: prefix would slip past the node check; none is written so, and this keeps it so.
    const bare = Object.keys(MAY_IMPORT)
      .flatMap((l) => sources(join(root, l)))
      .flatMap((f) => importEdges(f).filter((e) => e.target.startsWith('pkg:') && isBuiltin(e.specifier)).map((e) => `${relative(root, f)} -> ${e.specifier}`));
    expect(bare).toEqual([]);
    expect(importEdges(join(root, 'gateway/gateway.ts')).some((e) => e.target === 'ledger')).toBe(true);
  });

  it.each(Object.keys(MAY_IMPORT))('%s/', (layer) => {
    expect(wrongEdges(layer)).toEqual([]);
  });
});
