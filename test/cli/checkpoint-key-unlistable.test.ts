/**
 * The checkpoint key is missing and the ledger directory cannot be listed (permissions, an I/O error, not a
 * directory): the start is refused DATA_DIR_UNUSABLE and writes nothing. Found by review: loadOrCreateCheckpointKey
 * took a failed listing for an empty ledger directory and created a new key beside a log signed with another one
 * (the start then failed on the store, but the key stayed; once the directory was mended, the log went on under the
 * new key, its next checkpoints not verifying with the key its verifiers and devices hold).
 * Two ways: permission denied, the case that wrote a key (the directory exists, so making it succeeds), in a child
 * process on the built dist/ (npx tsc -b, as the other CLI tests) run as root without its capabilities (setpriv:
 * tests and CI run as root, which lists any directory; an earlier version ran as `nobody`, which needs every
 * directory above the checkout open to that user, and failed in a clone under a 0700 temp directory); and ENOTDIR
 * (the ledger path a file), in process: any error but ENOENT takes the same path.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';

describe('a missing key beside a ledger directory that cannot be listed', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  test('permission denied: refused DATA_DIR_UNUSABLE, no key written', async () => {
    const root = await mkdtemp(join(tmpdir(), 'op-key-unlistable-'));
    dirs.push(root);
    const data = join(root, 'data');
    const ledger = join(data, 'ledger');
    await mkdir(ledger, { recursive: true });
    await writeFile(join(ledger, '000001.log'), 'a log');
    await chmod(ledger, 0o000);
    const keyModule = join(process.cwd(), 'dist/gateway/checkpoint-key.js');
    const script = `import { loadOrCreateCheckpointKey } from ${JSON.stringify(keyModule)};
try { const k = await loadOrCreateCheckpointKey(${JSON.stringify(data)}, { logDir: ${JSON.stringify(ledger)} }); console.log(JSON.stringify({ created: k.created })); }
catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
    // As this user, without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (root's, which read any directory).
    const r = spawnSync('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    await chmod(ledger, 0o755);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { name?: string; code?: string; message?: string; created?: boolean };
    expect(out).toMatchObject({ name: 'ConfigError', code: 'DATA_DIR_UNUSABLE' });
    expect(out.message).toMatch(/ledger directory .*ledger cannot be listed: EACCES/);
    expect(await readdir(data)).toEqual(['ledger']);
  });

  test('not a directory: refused DATA_DIR_UNUSABLE, no key written', async () => {
    const root = await mkdtemp(join(tmpdir(), 'op-key-unlistable-'));
    dirs.push(root);
    const data = join(root, 'data');
    const ledger = join(data, 'ledger');
    await mkdir(data);
    await writeFile(ledger, 'not a directory');
    const err = await loadOrCreateCheckpointKey(data, { logDir: ledger }).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ name: 'ConfigError', code: 'DATA_DIR_UNUSABLE' });
    expect((err as Error).message).toMatch(/ledger directory .*ledger cannot be listed: ENOTDIR/);
    expect(await readdir(data)).toEqual(['ledger']);
  });
});
