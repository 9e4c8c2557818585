/**
 * A small, real tmpfs for the disk-full tests: `mount -t tmpfs -o size=...` (needs root or CAP_SYS_ADMIN), a filler
 * file that takes every free byte, and `unmount` (lazy if busy). Mounting that fails throws a clear error: the tests
 * that need it fail, they are not skipped.
 */
import { spawnSync } from 'node:child_process';
import { open, mkdtemp, rm, statfs, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Write a filler file until the file system is full (ENOSPC); returns the bytes it took. */
  fill(): Promise<number>;
  /** Delete the filler. */
  free(): Promise<void>;
  freeBytes(): Promise<number>;
  unmount(): Promise<void>;
}

export async function mountTmpfs(sizeMiB: number): Promise<Tmpfs> {
  const dir = await mkdtemp(join(tmpdir(), 'op-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    const why = r.error ? r.error.message : `${r.stderr}`.trim() || `exit ${r.status}`;
    throw new Error(
      `cannot mount a ${sizeMiB} MiB tmpfs at ${dir} (${why}). The disk-full tests fill a real file system and need to ` +
        'mount one: run them as root (or with CAP_SYS_ADMIN), as CI does.',
    );
  }
  const filler = join(dir, 'filler');
  let mounted = true;
  return {
    dir,
    async fill() {
      const fh = await open(filler, 'a');
      let total = 0;
      try {
        for (const size of [1 << 20, 4096, 1]) {
          const chunk = new Uint8Array(size).fill(0x5a);
          for (;;) {
            try {
              const { bytesWritten } = await fh.write(chunk);
              total += bytesWritten;
              if (bytesWritten < size) break;
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
              break;
            }
          }
        }
      } finally {
        await fh.close();
      }
      return total;
    },
    async free() {
      await unlink(filler);
    },
    async freeBytes() {
      const s = await statfs(dir);
      return s.bavail * s.bsize;
    },
    async unmount() {
      if (!mounted) return;
      mounted = false;
      const u = spawnSync('umount', [dir], { encoding: 'utf8' });
      if (u.status !== 0) spawnSync('umount', ['-l', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
