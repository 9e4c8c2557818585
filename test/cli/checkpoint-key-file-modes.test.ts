/**
 * `originproof ledger announce-key` and `rotate-key` read the gateway's secret checkpoint key files, and warn of one
 * that group or others may read as every other key file the CLI reads does (json-file.ts warnIfExposed: one stderr line
 * naming the file and its mode, never the key), and go on. Found by review: they read them without a word, though `keys
 * prove`, the simulator's loaders and the gateway's own start warn.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { NEXT_CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-next-key.js';
import { Pki, startTestGateway } from '../gateway/harness.js';
import { cliSandbox } from './cli-sandbox.js';

const { p, cli } = cliSandbox('op-cli-key-modes-');
const posix = process.platform !== 'win32';
const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.includes('warning'));
const secretOf = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { secretKey: string }).secretKey;

describe.skipIf(!posix)('ledger announce-key and rotate-key: an exposed checkpoint key file is warned of', () => {
  test('announce-key with the current key 0644, then rotate-key (an empty log) with the next key 0640: one warning each, the key not quoted; 0600: none', async () => {
    mkdirSync(p('gw'));
    const t = await startTestGateway(await Pki.create(), {}, p('gw'));
    await t.gw.close(); // the files are left: a data directory with its key and an empty log
    const data = join(t.dir, 'data');
    const keyFile = join(data, CHECKPOINT_KEY_FILE);
    const nextFile = join(data, NEXT_CHECKPOINT_KEY_FILE);

    chmodSync(keyFile, 0o644);
    const announced = cli('ledger', 'announce-key', '--data-dir', data);
    expect(announced.code, announced.out).toBe(0);
    expect(warnings(announced.err)).toEqual([`originproof: warning: checkpoint key file ${keyFile} may be read by group or others (mode 0644); keep it 0600 (chmod 600 ${keyFile})`]);
    expect(announced.err).not.toContain(secretOf(keyFile));

    chmodSync(keyFile, 0o600);
    chmodSync(nextFile, 0o640);
    const nextSecret = secretOf(nextFile);
    const rotated = cli('ledger', 'rotate-key', '--data-dir', data);
    expect(rotated.code, rotated.out).toBe(0);
    // the next key's file is the key file now, still 0640; the retired key's (the old key file, 0600) is not warned of
    expect(warnings(rotated.err)).toEqual([expect.stringContaining(`checkpoint key file ${keyFile} may be read by group or others (mode 0640)`)]);
    expect(secretOf(keyFile)).toBe(nextSecret);
    expect(rotated.err).not.toContain(nextSecret);

    chmodSync(keyFile, 0o600);
    const quiet = cli('ledger', 'announce-key', '--data-dir', data);
    expect([quiet.code, warnings(quiet.err)]).toEqual([0, []]);
  });
});
