/**
 * The checkpoint key's names on stable storage. A power cut keeps what was fsynced, and a SIGKILL (the crash tests')
 * cannot tell a missing fsync, so a child process makes the key in a data directory that does not exist yet, with
 * test/ledger/fixtures/fs-journal.mjs preloaded (it journals the process's mkdirs and fsyncs), and the journal is
 * checked: every directory `mkdir -p` made had the directory holding its name fsynced after it was made (found by
 * review: the data directory's own name never was, so a power cut soon after a first start could lose the directory
 * and every block it had receipted). And a directory fsync that fails is the data directory's fault, a start code
 * (DATA_DIR_UNUSABLE), not an error swallowed while the start goes on as if the name were durable.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { syncDirectory } from '../../gateway/checkpoint-key.js';

const root = resolve(__dirname, '../..');
// dist/ is built by the global setup (test/global-setup.ts).
const compiledKey = join(root, 'dist', 'gateway', 'checkpoint-key.js');
const journalPreload = join(root, 'test', 'ledger', 'fixtures', 'fs-journal.mjs');
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type Event = { t: string; path: string; made?: string | null };

async function journalOfFirstStart(base: string, dataDir: string): Promise<Event[]> {
  const journal = join(base, 'journal');
  const script = `const { loadOrCreateCheckpointKey } = await import(${JSON.stringify(pathToFileURL(compiledKey).href)});
await loadOrCreateCheckpointKey(${JSON.stringify(dataDir)}, { logDir: ${JSON.stringify(join(dataDir, 'ledger'))} });`;
  const child = spawn(process.execPath, ['--import', pathToFileURL(journalPreload).href, '--input-type=module', '-e', script], {
    env: { ...process.env, FS_JOURNAL: journal, LEVEL_FROM: join(root, 'dist', 'ledger', 'index.js') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((res) => child.on('exit', res));
  if (code !== 0) throw new Error(`child exited ${code}: ${stderr}`);
  const text = await readFile(journal, 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as Event);
}

describe('the checkpoint key on a first start', () => {
  test('each directory made for the data directory has its name fsynced, before the key is in place', async () => {
    const base = await mkdtemp(join(tmpdir(), 'op-key-durable-'));
    dirs.push(base);
    const dataDir = join(base, 'a', 'b', 'data');
    const events = await journalOfFirstStart(base, dataDir);
    const made = events.findIndex((e) => e.t === 'mkdir' && resolve(e.path) === dataDir);
    expect(made).toBeGreaterThanOrEqual(0);
    const link = events.findIndex((e) => e.t === 'link');
    expect(link).toBeGreaterThan(made);
    const syncedBeforeLink = new Set(events.slice(made, link).filter((e) => e.t === 'sync').map((e) => resolve(e.path)));
    // base/a, base/a/b and base/a/b/data were made: their names live in base, base/a and base/a/b
    for (const parent of [base, join(base, 'a'), join(base, 'a', 'b')]) expect(syncedBeforeLink, parent).toContain(parent);
    // and the ledger's directory, made before the key, in the data directory
    expect(syncedBeforeLink).toContain(dataDir);
    // the key file's own name, after its link
    expect(events.slice(link).some((e) => e.t === 'sync' && resolve(e.path) === dataDir)).toBe(true);
  });

  test('a directory that cannot be fsynced is DATA_DIR_UNUSABLE, not ignored', async () => {
    const base = await mkdtemp(join(tmpdir(), 'op-key-durable-'));
    dirs.push(base);
    await expect(syncDirectory(join(base, 'gone'))).rejects.toMatchObject({ code: 'DATA_DIR_UNUSABLE' });
    await expect(syncDirectory(dirname(base))).resolves.toBeUndefined();
  });
});
