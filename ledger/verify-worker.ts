/** Worker thread for `ledger verify` (started by ledger/verify.ts when running compiled): checks runs of entries. */
import { parentPort } from 'node:worker_threads';
import { checkRun } from './verify-run.js';

parentPort?.on('message', (m: { id: number; first: number; entries: Uint8Array[] }) => {
  const r = checkRun(m.first, m.entries);
  parentPort!.postMessage({ id: m.id, ...r }, [r.leaves.buffer as ArrayBuffer, r.types.buffer as ArrayBuffer, r.receivedAtMs.buffer as ArrayBuffer]);
});
