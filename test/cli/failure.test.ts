/** How the CLI names a failure (cli/failure.ts): only codes of the closed set go in brackets. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { describeFailure } from '../../cli/failure.js';
import { OriginProofError } from '../../protocol/errors.js';

describe('cli failures', () => {
  test('a code of the closed set is shown in brackets, a library\'s own code after the message', () => {
    expect(describeFailure(new OriginProofError('CLOCK_SKEW', 'too far ahead'))).toBe('[CLOCK_SKEW] too far ahead');
    expect(describeFailure(Object.assign(new Error('gone'), { code: 'NOT_FOUND' }))).toBe('[NOT_FOUND] gone');
    expect(describeFailure(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe('no such file (ENOENT)');
    expect(describeFailure('plain')).toBe('plain');
  });

  test('a LevelDB directory locked by another process is UNAVAILABLE, whatever wraps it', () => {
    const locked = Object.assign(new Error('Database failed to open'), { code: 'LEVEL_DATABASE_NOT_OPEN', cause: Object.assign(new Error('lock held'), { code: 'LEVEL_LOCKED' }) });
    expect(describeFailure(locked)).toMatch(/^\[UNAVAILABLE\] the data directory is in use by another process .*stop it first/);
  });

  test('verify with a file that does not exist: exit 2, NOT_FOUND', () => {
    const dir = mkdtempSync(join(tmpdir(), 'op-cli-fail-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'verify', join(dir, 'none.cbor'), '--trust', join(dir, 'none.json')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/\[NOT_FOUND\] cannot read /);
  });
});
