/**
 * A gateway that never answers, or answers a byte at a time forever (found by review): `fetch-bundle`,
 * `fetch-revocations` and `monitor --once` waited for it without end (fetch has no timeout of its own), so a cron job
 * of `monitor --once` hung instead of exiting, and the monitor's loop stopped monitoring without a word. Each request
 * now has a time limit (`--timeout SECONDS`, default 30): past it, UNAVAILABLE, exit 2, nothing written. And an answer
 * was buffered whole, however large (a gateway could send gigabytes): at most 64 MiB of it is read now (TOO_LARGE).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { Pki } from '../gateway/harness.js';

const { p, cliAsync } = cliSandbox('op-slow-gw-');

describe.concurrent('a gateway that never finishes its answer', () => {
  let server: Server;
  let url = '';
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  beforeAll(async () => {
    // /hang/...: the request is read, no answer ever comes. /drip/...: 200, then one byte every 100 ms, forever.
    // /declared/...: 200 announcing 100 MB, then nothing. /flood/...: 80 MiB of spaces, as fast as they are read.
    server = createServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/declared/')) {
        res.writeHead(200, { 'content-type': 'application/cbor', 'content-length': String(100_000_000) });
        res.flushHeaders();
        return;
      }
      if (req.url?.startsWith('/flood/')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1 << 20, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < 80 && !res.destroyed) {
            sent++;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('error', () => undefined);
        pump();
        return;
      }
      if (req.url?.startsWith('/drip/')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"treeSize": 1, "checkpoint": null, "revocations": [');
        const t = setInterval(() => res.write(' '), 100);
        timers.add(t);
        res.on('close', () => clearInterval(t));
      }
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const t of timers) clearInterval(t);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const timed = async (...args: string[]) => {
    const t0 = Date.now();
    const r = await cliAsync(...args);
    return { ...r, ms: Date.now() - t0 };
  };

  test('fetch-bundle: no answer within --timeout is UNAVAILABLE (exit 2), nothing written', async () => {
    const r = await timed('fetch-bundle', '--gateway', `${url}/hang/`, '--entry', '2', '--out', p('hang.cbor'), '--timeout', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[UNAVAILABLE\]/);
    expect(r.ms).toBeLessThan(12_000);
    expect(existsSync(p('hang.cbor'))).toBe(false);
  }, 20_000);

  test('fetch-revocations: an answer that never ends is UNAVAILABLE (exit 2), no directory written', async () => {
    const r = await timed('fetch-revocations', '--gateway', `${url}/drip/`, '--out', p('revs'), '--timeout', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[UNAVAILABLE\]/);
    expect(r.ms).toBeLessThan(12_000);
    expect(existsSync(p('revs'))).toBe(false);
  }, 20_000);

  test('monitor --once: no answer within --timeout is UNAVAILABLE (exit 2), no state file', async () => {
    const r = await timed('monitor', '--gateway', `${url}/hang/`, '--state', p('mon.json'), '--once', '--timeout', '1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[UNAVAILABLE\]/);
    expect(r.ms).toBeLessThan(12_000);
    expect(existsSync(p('mon.json'))).toBe(false);
  }, 20_000);

  // Suspected by this review, fixed after it: register (a POST) had no time limit either.
  test('register: no answer within --timeout is UNAVAILABLE (exit 2)', async () => {
    const pki = await Pki.create();
    writeFileSync(p('agency.cert'), (await pki.agency('hang.example')).cert.bytes);
    const r = await timed('register', '--gateway', `${url}/hang/`, '--timeout', '1', p('agency.cert'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[UNAVAILABLE\]/);
    expect(r.ms).toBeLessThan(12_000);
  }, 20_000);

  // Found by the CLI review: trust --gateway took no --timeout (each of its two requests waited the default 30 s).
  test('trust --gateway: no answer within --timeout is UNAVAILABLE (exit 2), no trust file written', async () => {
    const pki = await Pki.create();
    writeFileSync(p('root.cert'), pki.root.cert.bytes);
    const r = await timed('trust', '--root', p('root.cert'), '--gateway', `${url}/hang/`, '--timeout', '1', '--out', p('hang-trust.json'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[UNAVAILABLE\]/);
    expect(r.ms).toBeLessThan(12_000);
    expect(existsSync(p('hang-trust.json'))).toBe(false);
  }, 20_000);

  // register's POST shares the GET commands' request (cli/gateway-http.ts): the same cap, and the same reason given.
  test('register: an answer that grows past 64 MiB is cut off (TOO_LARGE, exit 2)', async () => {
    const pki = await Pki.create();
    writeFileSync(p('flood-agency.cert'), (await pki.agency('flood.example')).cert.bytes);
    const r = await timed('register', '--gateway', `${url}/flood/`, '--timeout', '20', p('flood-agency.cert'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[TOO_LARGE\]/);
  }, 20_000);

  test('register: a gateway that cannot be reached is UNAVAILABLE (exit 2), naming why, not only "fetch failed"', async () => {
    const pki = await Pki.create();
    writeFileSync(p('nowhere-agency.cert'), (await pki.agency('nowhere.example')).cert.bytes);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await timed('register', '--gateway', `http://127.0.0.1:${port}`, p('nowhere-agency.cert'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[UNAVAILABLE\]/);
    expect(r.err).toMatch(/ECONNREFUSED/);
  }, 20_000);

  test('fetch-bundle: an answer announced larger than 64 MiB is not read (TOO_LARGE, exit 2), nothing written', async () => {
    const r = await timed('fetch-bundle', '--gateway', `${url}/declared/`, '--entry', '2', '--out', p('big.cbor'), '--timeout', '20');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[TOO_LARGE\]/);
    expect(r.ms).toBeLessThan(12_000);
    expect(existsSync(p('big.cbor'))).toBe(false);
  }, 20_000);

  test('monitor --once: an answer that grows past 64 MiB is cut off (TOO_LARGE, exit 2), no state file', async () => {
    const r = await timed('monitor', '--gateway', `${url}/flood/`, '--state', p('flood.json'), '--once', '--timeout', '20');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[TOO_LARGE\]/);
    expect(existsSync(p('flood.json'))).toBe(false);
  }, 20_000);

  test('--timeout must be a whole number of seconds, 1 to a day (MALFORMED, exit 2)', async () => {
    const runs = await Promise.all(['0', '1.5', '86401'].flatMap((bad) => [
      cliAsync('fetch-bundle', '--gateway', url, '--entry', '2', '--out', p('x.cbor'), '--timeout', bad),
      cliAsync('register', '--gateway', url, '--timeout', bad, p('none.cert')),
    ]));
    for (const r of runs) {
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/\[MALFORMED\]/);
    }
  });
});
