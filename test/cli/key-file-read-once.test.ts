/**
 * A key file is checked and read through one open file (device-sim/json-file.ts readJsonFile): its size, its kind and
 * its mode are those of the file read. Found by review: it was stat'ed by path and then read by path, so a file renamed
 * over it in between (a key rotated in place, a swap by whoever can write the directory) was read unchecked: its mode
 * never warned of, its size never bounded. node:fs is wrapped (not our code) so that the swap happens right after the
 * loader's stat, whichever stat it is, deterministically.
 */
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import type * as Fs from 'node:fs';

const swap = vi.hoisted(() => ({ after: null as null | (() => void) }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof Fs>();
  const thenSwap = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    const r = f(...a);
    const s = swap.after;
    swap.after = null;
    s?.();
    return r;
  };
  const wrapped = { ...fs, statSync: thenSwap(fs.statSync as (...a: unknown[]) => Fs.Stats), fstatSync: thenSwap(fs.fstatSync as (...a: unknown[]) => Fs.Stats) };
  return { ...wrapped, default: wrapped };
});

const { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const { loadSigner } = await import('../../cli/commands/keys.js');
const { ALG_EDDSA, generateSecretKey, nobleSigner, toHex } = await import('../../protocol/index.js');

const dir = mkdtempSync(join(tmpdir(), 'op-key-once-'));
afterEach(() => void (swap.after = null));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keyFile = (secret: Uint8Array) => JSON.stringify({ alg: 'ed25519', secretKey: toHex(secret), publicKey: toHex(nobleSigner(ALG_EDDSA, secret).publicKey) }) + '\n';

describe('a key file replaced between its check and its read', () => {
  test('the key loaded is the one whose mode and size were checked, not the file renamed over it', () => {
    const checked = generateSecretKey(ALG_EDDSA);
    const other = generateSecretKey(ALG_EDDSA);
    const path = join(dir, 'dev.key');
    writeFileSync(path, keyFile(checked), { mode: 0o600 });
    writeFileSync(join(dir, 'other.key'), keyFile(other), { mode: 0o600 });
    chmodSync(join(dir, 'other.key'), 0o644); // exposed: it would be warned of, had it been the one checked
    swap.after = () => renameSync(join(dir, 'other.key'), path);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const signer = loadSigner(path);
      expect(toHex(signer.publicKey)).toBe(toHex(nobleSigner(ALG_EDDSA, checked).publicKey));
      expect(stderr).not.toHaveBeenCalled(); // the file read was 0600
    } finally {
      stderr.mockRestore();
    }
  });
});
