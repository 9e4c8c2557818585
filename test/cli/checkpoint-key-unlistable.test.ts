/**
 * The checkpoint key is missing and the ledger directory cannot be listed (permissions, an I/O error): the start is
 * refused DATA_DIR_UNUSABLE and writes nothing. Found by review: loadOrCreateCheckpointKey took a failed listing for
 * an empty ledger directory and created a new key beside a log signed with another one (the start then failed on
 * the store, but the key stayed; once the permissions were mended, the log went on under the new key, its next
 * checkpoints not verifying with the key its verifiers and devices hold). README: a refused start changes nothing.
 * Run as an unprivileged user (setpriv; root here and in CI), since root lists any directory; on the built
 * dist/ (npx tsc -b), as the other CLI tests.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';

const NOBODY = 65534;
const keyModule = join(process.cwd(), 'dist/gateway/checkpoint-key.js');

describe('a missing key beside a ledger directory that cannot be listed', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) {
      spawnSync('chmod', ['-R', 'u+rwx', d]);
      rmSync(d, { recursive: true, force: true });
    }
  });

  test('refused DATA_DIR_UNUSABLE, no key written', () => {
    const root = mkdtempSync(join(tmpdir(), 'op-key-unlistable-'));
    dirs.push(root);
    const data = join(root, 'data');
    const ledger = join(data, 'ledger');
    mkdirSync(ledger, { recursive: true });
    writeFileSync(join(ledger, '000001.log'), 'a log');
    for (const p of [root, data, ledger]) chownSync(p, NOBODY, NOBODY);
    chmodSync(root, 0o755);
    chmodSync(ledger, 0o000);
    const script = `import { loadOrCreateCheckpointKey } from ${JSON.stringify(keyModule)};
try { const k = await loadOrCreateCheckpointKey(${JSON.stringify(data)}, { logDir: ${JSON.stringify(ledger)} }); console.log(JSON.stringify({ created: k.created })); }
catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
    const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { name?: string; code?: string; message?: string; created?: boolean };
    expect(out).toMatchObject({ name: 'ConfigError', code: 'DATA_DIR_UNUSABLE' });
    expect(out.message).toMatch(/ledger directory .*ledger cannot be listed/);
    expect(readdirSync(data)).toEqual(['ledger']);
  });
});
