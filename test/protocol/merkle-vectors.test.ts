// Every published transparency-dev/merkle case (test/vectors/transparency-dev-merkle, Apache-2.0):
// wantErr false verifies, wantErr true is rejected with INCLUSION_INVALID / CONSISTENCY_INVALID.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyConsistency, verifyInclusion } from '../../protocol/merkle/index.js';
import { OriginProofError } from '../../protocol/errors.js';

const root = fileURLToPath(new URL('../vectors/transparency-dev-merkle/', import.meta.url));
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.json') ? [p] : [];
  });
}

function outcome(fn: () => void, code: string): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(OriginProofError);
    expect((err as OriginProofError).code).toBe(code);
    return false;
  }
}

interface InclusionCase { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; wantErr: boolean }
interface ConsistencyCase { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; wantErr: boolean }

describe('transparency-dev/merkle inclusion vectors', () => {
  const files = walk(join(root, 'inclusion'));
  it('has the published files', () => expect(files.length).toBeGreaterThan(80));
  it.each(files.map((f) => [f.slice(root.length), f]))('%s', (_name, file) => {
    const c = JSON.parse(readFileSync(file, 'utf8')) as InclusionCase;
    const ok = outcome(() => verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), (c.proof ?? []).map(b64), b64(c.root)), 'INCLUSION_INVALID');
    expect(ok).toBe(!c.wantErr);
  });
});

describe('transparency-dev/merkle consistency vectors', () => {
  const files = walk(join(root, 'consistency'));
  it('has the published files', () => expect(files.length).toBeGreaterThan(80));
  it.each(files.map((f) => [f.slice(root.length), f]))('%s', (_name, file) => {
    const c = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyCase;
    const ok = outcome(() => verifyConsistency(c.size1, c.size2, (c.proof ?? []).map(b64), b64(c.root1), b64(c.root2)), 'CONSISTENCY_INVALID');
    expect(ok).toBe(!c.wantErr);
  });
});
