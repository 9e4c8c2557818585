/**
 * README's bench blocks are written from result files, never by hand: the tally block must be what bench/tally.ts
 * counts over the committed result files, and the latest-run block the tables of the newest complete one. A complete
 * run committed without `npm run bench -- --readme` (or README edited by hand) fails here.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { readBlock } from '../../bench/readme-block.js';
import { latestTable, scalingTable, type BenchResults } from '../../bench/report.js';
import { parseRun, tallyTable, type RunRecord } from '../../bench/tally.js';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

/**
 * The result files git tracks (a dated file is never changed once written; a bench run on this clone adds files README
 * need not know of until they are added).
 */
function committedRuns(): RunRecord[] {
  const listed = execFileSync('git', ['ls-files', '-z', 'bench/results'], { cwd: root, encoding: 'utf8' }).split('\0');
  return listed
    .filter((p) => /^bench\/results\/bench-.*\.json$/.test(p))
    .map((p) => parseRun(p.slice('bench/results/'.length), readFileSync(new URL(p, root), 'utf8')))
    .filter((r): r is RunRecord => r !== null)
    .sort((a, b) => a.date.localeCompare(b.date));
}

describe('README bench blocks', () => {
  const runs = committedRuns();

  test('the tally block is what bench/tally.ts counts over the committed result files', () => {
    expect(runs.length).toBeGreaterThan(0);
    expect(readBlock(readme, 'tally')).toBe(tallyTable(runs));
  });

  test('the latest-run tables are the newest complete run\'s', () => {
    const newest = runs.at(-1)!;
    const results = (newest.flat as { results: BenchResults }).results;
    expect(readBlock(readme, 'latest')).toBe(`${latestTable(results)}\n\n${scalingTable(results)}`);
  });
});
