/**
 * What crosses between the event loop and a verify worker, both halves in one place: the packed batch format
 * (`packBatch`) and the worker's own source, which unpacks it, verifies each item (node-verify-factory.ts) and
 * answers one byte per item.
 */
import { makeNodeVerify } from './node-verify-factory.js';
import type { VerifyRequest } from './verify-pool.js';

/**
 * A batch crosses to a worker as ONE transferred ArrayBuffer: per item alg (1 byte: 0 = EdDSA -8, 1 = ES256 -7),
 * key length (1), message length (2, big-endian), signature length (1), key slot (4, big-endian), then key, message,
 * signature. Posting the request objects instead costs a structured clone per item, and a Uint8Array view clones its
 * whole backing buffer (a signature is a view into the MQTT packet), which profiling showed on the main thread.
 * The key slot numbers each distinct key object (a device's key is one object in the registry), so a worker finds
 * its KeyObject by number instead of by the key's base64 text (3% of a worker's time).
 */
const HEADER = 9;

export function packBatch(items: VerifyRequest[], slotOf: (key: Uint8Array) => number): ArrayBuffer {
  let size = 0;
  for (const it of items) size += HEADER + it.publicKey.length + it.message.length + it.signature.length;
  const out = new Uint8Array(size);
  let o = 0;
  for (const it of items) {
    // Lengths beyond a field's range cannot verify; send them empty so the worker answers false.
    const ok = it.publicKey.length < 256 && it.message.length < 65536 && it.signature.length < 256 && (it.alg === -8 || it.alg === -7);
    const pk = ok ? it.publicKey : EMPTY;
    const msg = ok ? it.message : EMPTY;
    const sig = ok ? it.signature : EMPTY;
    out[o] = it.alg === -7 ? 1 : 0;
    out[o + 1] = pk.length;
    out[o + 2] = msg.length >>> 8;
    out[o + 3] = msg.length & 0xff;
    out[o + 4] = sig.length;
    const slot = slotOf(it.publicKey);
    out[o + 5] = slot >>> 24;
    out[o + 6] = (slot >>> 16) & 0xff;
    out[o + 7] = (slot >>> 8) & 0xff;
    out[o + 8] = slot & 0xff;
    o += HEADER;
    out.set(pk, o);
    o += pk.length;
    out.set(msg, o);
    o += msg.length;
    out.set(sig, o);
    o += sig.length;
  }
  return out.buffer;
}
const EMPTY = new Uint8Array(0);

/**
 * Verify workers run at a lower OS priority than the event loop (Linux: a thread's nice value is its own, set
 * through /proc/thread-self's tid; elsewhere this is skipped). The event loop (MQTT I/O, sequencing, blocks,
 * receipts) then gets a core whenever it has work, and verification takes what is left: with as many workers as
 * cores, verification uses both cores when the loop idles, without starving it when it does not (equal shares made
 * receipt p99 at 80% load 3-4x worse with two workers on two cores).
 */
export const VERIFY_WORKER_NICE = 10;

export const VERIFY_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (workerData.nice && Number.isInteger(tid) && tid > 0) require('node:os').setPriority(tid, workerData.nice);
} catch {}
const makeNodeVerify = ${makeNodeVerify.toString()};
const verify = makeNodeVerify(crypto, workerData.keyCacheSize, workerData.sodiumPath ? require(workerData.sodiumPath) : null);
parentPort.postMessage({ ready: true });
parentPort.on('message', (batch) => {
  const buf = new Uint8Array(batch.packed);
  const results = new Uint8Array(batch.count);
  let o = 0;
  for (let i = 0; i < batch.count; i++) {
    const alg = buf[o] === 1 ? -7 : -8;
    const pkLen = buf[o + 1], msgLen = (buf[o + 2] << 8) | buf[o + 3], sigLen = buf[o + 4];
    const slot = ((buf[o + 5] << 24) | (buf[o + 6] << 16) | (buf[o + 7] << 8) | buf[o + 8]) >>> 0;
    o += ${HEADER};
    const pk = buf.subarray(o, o + pkLen); o += pkLen;
    const msg = buf.subarray(o, o + msgLen); o += msgLen;
    const sig = buf.subarray(o, o + sigLen); o += sigLen;
    results[i] = verify(alg, pk, msg, sig, slot) ? 1 : 0;
  }
  parentPort.postMessage({ id: batch.id, results, keys: verify.keys() }, [results.buffer]);
});
`;
