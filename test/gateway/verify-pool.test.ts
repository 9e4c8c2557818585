import { describe, expect, test } from 'vitest';
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import { VerifyPool } from '../../gateway/crypto/verify-pool.js';
import { makeNodeVerify } from '../../gateway/crypto/node-verify-factory.js';
import { ALG_EDDSA, ALG_ES256, generateSecretKey, nobleSigner, nobleVerify, type Alg } from '../../protocol/algorithms.js';

function sample(alg: Alg, n: number) {
  const signer = nobleSigner(alg, generateSecretKey(alg));
  return Array.from({ length: n }, (_, i) => {
    const message = crypto.randomBytes(40 + i);
    return { alg, publicKey: signer.publicKey, message, signature: signer.sign(message) as Uint8Array };
  });
}

describe('node:crypto verification', () => {
  test('agrees with the pure noble path on valid and forged signatures, both algorithms', () => {
    const verify = makeNodeVerify(crypto);
    for (const alg of [ALG_EDDSA, ALG_ES256] as const) {
      for (const r of sample(alg, 10)) {
        expect(verify(r.alg, r.publicKey, r.message, r.signature)).toBe(true);
        expect(nobleVerify(r.alg, r.publicKey, r.message, r.signature)).toBe(true);
        const forged = Uint8Array.from(r.signature);
        forged[5]! ^= 1;
        expect(verify(r.alg, r.publicKey, r.message, forged)).toBe(false);
        expect(nobleVerify(r.alg, r.publicKey, r.message, forged)).toBe(false);
      }
    }
  });

  test('accepts high-S P-256 signatures, as COSE ES256 allows (noble agrees with lowS: false)', () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-65));
    const verify = makeNodeVerify(crypto);
    let highS = 0;
    const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    for (let i = 0; i < 40; i++) {
      const msg = crypto.randomBytes(32);
      const sig = new Uint8Array(crypto.sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
      const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
      if (s > n / 2n) highS++;
      expect(verify(ALG_ES256, raw, msg, sig)).toBe(true);
      expect(nobleVerify(ALG_ES256, raw, msg, sig)).toBe(true);
    }
    expect(highS).toBeGreaterThan(0);
  });

  test('rejects wrong lengths, unknown algs and keys that are not points, without throwing', () => {
    const verify = makeNodeVerify(crypto);
    const [r] = sample(ALG_EDDSA, 1);
    expect(verify(r!.alg, r!.publicKey, r!.message, r!.signature.subarray(1))).toBe(false);
    expect(verify(-35, r!.publicKey, r!.message, r!.signature)).toBe(false);
    expect(verify(ALG_ES256, new Uint8Array(65).fill(4), r!.message, r!.signature)).toBe(false);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 70 }), fc.uint8Array({ minLength: 0, maxLength: 70 }), (key, sig) => {
        expect(typeof verify(ALG_EDDSA, key, r!.message, sig)).toBe('boolean');
      }),
      { numRuns: 200 },
    );
  });
});

describe('VerifyPool', () => {
  test('worker threads return the same verdicts as inline verification, in order', async () => {
    const pool = new VerifyPool(2, 16);
    const inline = new VerifyPool(0);
    try {
      const reqs = [...sample(ALG_EDDSA, 40), ...sample(ALG_ES256, 40)].map((r, i) => {
        if (i % 3 === 0) {
          const sig = Uint8Array.from(r.signature);
          sig[0]! ^= 0x80;
          return { ...r, signature: sig };
        }
        return r;
      });
      const got = await Promise.all(reqs.map((r) => pool.verify(r)));
      const want = await Promise.all(reqs.map((r) => inline.verify(r)));
      expect(got).toEqual(want);
      expect(got.filter((x) => !x)).toHaveLength(27);
    } finally {
      await pool.close();
      await inline.close();
    }
  });

  test('a packed batch mixing algorithms, views into larger buffers, bad lengths and unknown algs gets the inline verdicts', async () => {
    const pool = new VerifyPool(2, 64);
    const inline = new VerifyPool(0);
    try {
      const good = [...sample(ALG_EDDSA, 6), ...sample(ALG_ES256, 6)];
      // Views at odd offsets into a shared buffer, as a signature sliced out of an MQTT packet is.
      const big = new Uint8Array(4096);
      const asView = (b: Uint8Array, at: number) => {
        big.set(b, at);
        return big.subarray(at, at + b.length);
      };
      const odd = good.map((r, i) => ({ ...r, signature: asView(r.signature, 7 + i * 97) }));
      const reqs = [
        ...good, ...odd,
        { ...good[0]!, alg: -35 },
        { ...good[1]!, signature: good[1]!.signature.subarray(1) },
        { ...good[2]!, publicKey: new Uint8Array(300) },
        { ...good[3]!, message: new Uint8Array(70_000) },
        { ...good[7]!, publicKey: good[0]!.publicKey },
      ];
      const got = await Promise.all(reqs.map((r) => pool.verify(r)));
      const want = await Promise.all(reqs.map((r) => inline.verify(r)));
      expect(got).toEqual(want);
      expect(got.slice(0, 24).every(Boolean)).toBe(true);
      expect(got.slice(24).some(Boolean)).toBe(false);
    } finally {
      await pool.close();
      await inline.close();
    }
  });

  test('check answers through its callback once, never synchronously, with workers or inline; a closed pool answers an error', async () => {
    const reqs = [...sample(ALG_EDDSA, 3), ...sample(ALG_ES256, 3)];
    reqs[4] = { ...reqs[4]!, signature: Uint8Array.from(reqs[4]!.signature, (b, i) => (i === 9 ? b ^ 1 : b)) };
    for (const workers of [2, 0]) {
      const pool = new VerifyPool(workers);
      try {
        const answers: (boolean | Error)[][] = reqs.map(() => []);
        let sync = true;
        const all = Promise.all(
          reqs.map((r, i) => new Promise<void>((resolve) => pool.check(r, (err, ok) => {
            answers[i]!.push(sync ? new Error('answered synchronously') : (err ?? ok));
            resolve();
          }))),
        );
        sync = false;
        await all;
        await new Promise((r) => setTimeout(r, 20)); // a second answer would have come by now
        expect(answers).toEqual([[true], [true], [true], [true], [false], [true]]);
      } finally {
        await pool.close();
      }
      const afterClose = await new Promise<Error | undefined>((resolve) => pool.check(reqs[0]!, (err) => resolve(err)));
      expect(afterClose).toMatchObject({ name: 'OriginProofError', code: 'UNAVAILABLE' }); // the rule for a closed pool, not any error
    }
  });
});

describe('key slots', () => {
  test('a key object changed in place is verified with its new bytes, never with the KeyObject of the old ones', async () => {
    const pool = new VerifyPool(1, 8);
    try {
      const [a] = sample(ALG_EDDSA, 1);
      const [b] = sample(ALG_EDDSA, 1);
      const key = Uint8Array.from(a!.publicKey); // one object: one slot
      expect(await pool.verify({ ...a!, publicKey: key })).toBe(true);
      key.set(b!.publicKey); // same object, other key
      expect(await pool.verify({ ...a!, publicKey: key })).toBe(false);
      expect(await pool.verify({ ...b!, publicKey: key })).toBe(true);
    } finally {
      await pool.close();
    }
  });
});

describe('verify worker priority', () => {
  // Linux only: each thread's nice value is field 19 of /proc/<pid>/task/<tid>/stat.
  /** The nice value of each thread of this process; `main`: the main thread's (its tid is the pid). */
  const niceOfThreads = async (): Promise<{ all: number[]; main: number }> => {
    const { readdir, readFile } = await import('node:fs/promises');
    const niceOf = async (tid: string | number) => {
      const stat = await readFile(`/proc/${process.pid}/task/${tid}/stat`, 'utf8').catch(() => '');
      return stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) : undefined;
    };
    const all: number[] = [];
    for (const tid of await readdir(`/proc/${process.pid}/task`)) {
      const n = await niceOf(tid);
      if (n !== undefined) all.push(n);
    }
    // By tid, not by listing order: once pids wrap around (pid_max), a worker's tid can be lower than the pid.
    return { all, main: (await niceOf(process.pid))! };
  };

  test.runIf(process.platform === 'linux')('workers run at a lower OS priority than the event loop (nice VERIFY_WORKER_NICE)', async () => {
    const { VERIFY_WORKER_NICE } = await import('../../gateway/crypto/verify-pool.js');
    const before = (await niceOfThreads()).all.filter((n) => n === VERIFY_WORKER_NICE).length;
    const pool = new VerifyPool(2);
    try {
      // a verification round trip on each worker: both have started (and set their priority) by then
      await Promise.all(sample(ALG_EDDSA, 600).map((r) => pool.verify(r)));
      const nices = await niceOfThreads();
      expect(nices.all.filter((n) => n === VERIFY_WORKER_NICE).length).toBe(before + 2);
      expect(nices.main).toBe(0); // the main thread keeps its priority
    } finally {
      await pool.close();
    }
  });
});

describe('a verify worker that dies', () => {
  const threads = (p: VerifyPool) => (p as unknown as { slots: { worker: import('node:worker_threads').Worker }[] }).slots.map((s) => s.worker);
  /** Crash a real worker: a message its handler cannot take throws inside it (uncaught: 'error', then 'exit'). */
  const crash = (w: import('node:worker_threads').Worker) => w.postMessage({ id: 0, count: -1, packed: new ArrayBuffer(0) });
  const codeOf = (p: Promise<boolean>) => p.then((ok) => ok, (err: { code?: string }) => err.code ?? 'no code');
  const exited = (w: import('node:worker_threads').Worker) => new Promise((r) => w.once('exit', r));

  test('the requests it held are checked again on another or the replacement worker; it is replaced; later requests verify', async () => {
    const [r] = sample(ALG_EDDSA, 1);
    for (const workers of [1, 2]) {
      const pool = new VerifyPool(workers, 1); // batch size 1: a request is posted to a worker as it is made
      try {
        expect(await pool.verify(r!)).toBe(true);
        const doomed = threads(pool)[0]!;
        const gone = exited(doomed);
        crash(doomed);
        const held = codeOf(pool.verify(r!)); // posted behind the crashing message, to the least busy: the doomed one
        expect(await held).toBe(true);
        await gone;
        expect(pool.size).toBe(workers);
        expect(pool.restarts).toBe(1);
        expect(threads(pool)).not.toContain(doomed);
        const later = await Promise.all(Array.from({ length: 8 }, () => codeOf(pool.verify(r!))));
        expect(later).toEqual(Array(8).fill(true));
      } finally {
        await pool.close();
      }
    }
  });

  test('UNAVAILABLE: a request whose second worker dies too (checked once more, not forever)', async () => {
    const [r] = sample(ALG_EDDSA, 1);
    const pool = new VerifyPool(1, 1);
    try {
      expect(await pool.verify(r!)).toBe(true);
      const doomed = threads(pool)[0]!;
      // The pool's own 'error' listener runs first: by this one the request is posted to the replacement, which is
      // still starting; end that one too before it can answer.
      let second: import('node:worker_threads').Worker | undefined;
      doomed.once('error', () => {
        second = threads(pool)[0];
        void second?.terminate();
      });
      crash(doomed);
      const held = codeOf(pool.verify(r!));
      expect(await held).toBe('UNAVAILABLE');
      expect(second).toBeDefined();
      expect(second).not.toBe(doomed);
    } finally {
      await pool.close();
    }
  });

  test('a worker thread that ends without an error (terminated) is replaced; what it held is verified', async () => {
    const [r] = sample(ALG_ES256, 1);
    const pool = new VerifyPool(1, 1);
    try {
      expect(await pool.verify(r!)).toBe(true);
      const held = codeOf(pool.verify(r!)); // in flight to the worker
      await threads(pool)[0]!.terminate();
      // Answered before it ended, or checked again on its replacement: either way verified, not left waiting.
      expect(await held).toBe(true);
      expect(await codeOf(pool.verify(r!))).toBe(true);
      expect(pool.restarts).toBe(1);
    } finally {
      await pool.close();
    }
  });

  test('workers that keep dying are restarted with a growing delay (no spinning), requests meanwhile are answered UNAVAILABLE', async () => {
    const { RESTART_MIN_MS } = await import('../../gateway/crypto/verify-pool.js');
    const [r] = sample(ALG_EDDSA, 1);
    const pool = new VerifyPool(1, 1);
    try {
      const answers: (boolean | string)[] = [];
      const killer = setInterval(() => {
        for (const w of threads(pool)) void w.terminate();
        void codeOf(pool.verify(r!)).then((a) => answers.push(a));
      }, 5);
      await new Promise((done) => setTimeout(done, 1500));
      clearInterval(killer);
      // Restarted at once, then after 100, 200, 400, 800 ms...: a handful in 1.5 s, not hundreds.
      expect(pool.restarts).toBeGreaterThanOrEqual(3);
      expect(pool.restarts).toBeLessThanOrEqual(6);
      await new Promise((done) => setTimeout(done, 50));
      expect(answers.length).toBeGreaterThan(20); // every request answered, promptly, while workers were dying
      expect(answers.filter((a) => a !== true && a !== 'UNAVAILABLE')).toEqual([]);
      expect(answers).toContain('UNAVAILABLE');
      // Left alone, the last replacement comes up and verifies again.
      let ok: boolean | string = false;
      for (let i = 0; i < 200 && ok !== true; i++) {
        ok = await codeOf(pool.verify(r!));
        if (ok !== true) await new Promise((done) => setTimeout(done, RESTART_MIN_MS));
      }
      expect(ok).toBe(true);
    } finally {
      await pool.close();
    }
  }, 30_000);

  test('close() answers what the workers hold, starts no replacement, ends every thread', async () => {
    const [r] = sample(ALG_EDDSA, 1);
    const pool = new VerifyPool(2, 1);
    expect(await pool.verify(r!)).toBe(true);
    const ws = threads(pool);
    crash(ws[0]!);
    await exited(ws[0]!); // replaced at once
    crash(threads(pool)[0]!); // a second death soon after: its replacement waits (RESTART_MIN_MS)
    const held = Array.from({ length: 4 }, () => codeOf(pool.verify(r!)));
    await new Promise((done) => setTimeout(done, 20));
    const restarts = pool.restarts;
    const all = threads(pool);
    const ended = Promise.all(all.map(exited));
    await pool.close();
    await ended;
    for (const a of await Promise.all(held)) expect([true, 'UNAVAILABLE']).toContain(a);
    expect(await codeOf(pool.verify(r!))).toBe('UNAVAILABLE');
    await new Promise((done) => setTimeout(done, 300));
    expect(pool.restarts).toBe(restarts);
    expect(pool.size).toBe(0);
  });
});
