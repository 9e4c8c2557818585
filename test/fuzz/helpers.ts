/** Shared by the fuzz suites: a synchronous signer for re-signed mutants, and heap measurement after a full GC. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Device } from '../gateway/harness.js';

export function syncSigner(d: Device): (m: Uint8Array) => Uint8Array {
  return (m) => {
    const s = d.signer.sign(m);
    if (s instanceof Promise) throw new Error('the fuzz device needs a synchronous signer (Ed25519 via @noble/curves)');
    return s;
  };
}

/**
 * `gc()` whether or not the worker was started with --expose-gc: the flag can be set at run time, and a new
 * context then sees the function.
 */
function getGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Heap plus external memory (Buffers) in use after full collections (until it stops shrinking), in bytes. */
export async function settledHeap(): Promise<number> {
  const gc = getGc();
  let last = Infinity;
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
    const m = process.memoryUsage();
    const used = m.heapUsed + m.external;
    if (used >= last - 64 * 1024) return Math.min(used, last);
    last = used;
  }
  return last;
}
