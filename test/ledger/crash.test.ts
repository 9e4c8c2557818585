// A real crash: a child process appends blocks (LevelDB, fsync per block) and is SIGKILLed mid-run, several
// times over the same directory. After each kill the ledger must hold whole blocks only (`ledger verify`
// passes: every entry in a block, no entry outside one, state record = last block), every block the child
// reported durable must be there, and appending must continue from there.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryLocation, flipFileByte, leafLocation } from './entry-location.js';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { ORIGIN, reading, revocation, signer } from './contract.js';

const root = resolve(__dirname, '../..');
// Compiled inside node_modules/.cache so that the compiled files resolve `level` from the project.
const lib = join(root, 'node_modules', '.cache', `originproof-crash-${process.pid}`);
const dirs: string[] = [];

beforeAll(() => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--outDir', lib, '--rootDir', root, '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
    '--target', 'ES2022', '--types', 'node', '--skipLibCheck', '--esModuleInterop', join(root, 'ledger', 'index.ts'), join(root, 'ledger', 'verify-worker.ts')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc failed: ${r.stdout}${r.stderr}`);
}, 120_000);

afterAll(async () => {
  await rm(lib, { recursive: true, force: true });
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Run the writer until it has reported `blocks` more durable blocks, then SIGKILL it a few ms later. */
function runAndKill(dir: string, blocks: number): Promise<{ height: number; size: number }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'crash-writer.mjs'), pathToFileURL(join(lib, 'ledger', 'index.js')).href, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    let last = { height: -1, size: 0 };
    let out = '';
    let err = '';
    let killing = false;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) {
        const [, h, s] = l.split(' ');
        last = { height: Number(h), size: Number(s) };
        seen++;
      }
      if (seen >= blocks && !killing) {
        killing = true;
        // Kill while the next blocks are being written (the writer keeps two in flight).
        setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 8));
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') res(last);
      else rej(new Error(`writer exited (${code}) before the kill: ${err}`));
    });
  });
}

describe('crash: SIGKILL while appending', () => {
  it('leaves whole blocks only, keeps every durable block, and appending resumes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-crash-'));
    dirs.push(dir);
    let durable = { height: -1, size: 0 };
    for (let round = 0; round < 4; round++) {
      const reported = await runAndKill(dir, 8 + round * 5);
      if (reported.height >= 0) durable = reported;
      const backend = await LevelBackend.open(dir, { sync: false });
      const report = await verifyLedger(backend).finally(() => backend.close());
      expect(report.problem).toBeUndefined();
      expect(report.ok).toBe(true);
      const ledger = await Ledger.open({ dir, origin: ORIGIN, signer });
      try {
        // Every block reported durable survived; nothing beyond whole blocks is visible.
        expect(ledger.height).toBeGreaterThanOrEqual(durable.height);
        expect(ledger.size).toBeGreaterThanOrEqual(durable.size);
        expect(report).toMatchObject({ blocks: ledger.height + 1, entries: ledger.size });
        const last = await ledger.blockHeader(ledger.height);
        expect(last!.lastIndex + 1).toBe(ledger.size);
        expect(await ledger.getEntry(ledger.size)).toBeUndefined();
        durable = { height: ledger.height, size: ledger.size };
      } finally {
        await ledger.close();
      }
    }
    expect(durable.height).toBeGreaterThan(20);
  }, 120_000);
});

describe('ledger verify with worker threads (the compiled code, as the CLI runs it)', () => {
  async function build(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-workers-'));
    dirs.push(dir);
    const ledger = await Ledger.open({ dir, origin: ORIGIN, signer });
    // Revocation entries among the readings: their statements are hashed in the workers for the revocations line.
    for (let b = 0; b < 6; b++) await ledger.appendBlock(Array.from({ length: 300 }, (_, i) => ((b * 300 + i) % 97 === 5 ? revocation(b * 300 + i) : reading(b * 300 + i))));
    await ledger.close();
    return dir;
  }
  async function check(dir: string) {
    const compiled = (await import(pathToFileURL(join(lib, 'ledger', 'index.js')).href)) as typeof import('../../ledger/index.js');
    const backend = await compiled.LevelBackend.open(dir, { sync: false });
    try {
      return await compiled.verifyLedger(backend, { workers: 2 });
    } finally {
      await backend.close();
    }
  }

  it('passes a clean ledger and names a tampered entry and tree node, as inline', async () => {
    expect(await check(await build())).toMatchObject({ ok: true, blocks: 6, entries: 1800, workers: 2, revocations: 19 });
    const dir = await build();
    const at = await entryLocation(dir, 1000);
    await flipFileByte(at.file, at.end - 3);
    expect((await check(dir)).problem).toMatchObject({ block: 3, entry: 1000 });
    const dir2 = await build();
    const at2 = await entryLocation(dir2, 1300);
    await flipFileByte(at2.file, at2.start + 3); // inside the index field
    expect((await check(dir2)).problem).toMatchObject({ block: 4, entry: 1300 });
    const dir3 = await build();
    const leaf = await leafLocation(dir3, 521);
    await flipFileByte(leaf.file, leaf.at + 1);
    expect(await check(dir3)).toMatchObject({ workers: 2, problem: { block: 1, entry: 521 } });
  }, 60_000);
});
