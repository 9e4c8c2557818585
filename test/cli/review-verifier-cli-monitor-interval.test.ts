/**
 * `monitor --interval` longer than a timer can hold (found by review): the seconds went to setTimeout as milliseconds,
 * and past 2^31 - 1 ms (about 24.8 days) node fires after 1 ms instead, so `--interval 3000000` (about 35 days) polled
 * the gateway in a tight loop, hundreds of rounds a second. It is now refused: a positive number of seconds, at most a
 * day (MALFORMED, exit 2), before any request.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI_MAIN, cliSandbox } from './cli-sandbox.js';

const { p, dir } = cliSandbox('op-mon-interval-');

describe('monitor --interval', () => {
  let server: Server;
  let url = '';
  let requests = 0;
  beforeAll(async () => {
    // Not a gateway: each round fails and is retried after the interval, which is what is counted.
    server = createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"UNAVAILABLE","message":"later"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Runs the monitor for at most 8 s (then kills it). */
  const run = (interval: string) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      execFile(process.execPath, [CLI_MAIN, 'monitor', '--gateway', url, '--state', p(`s-${interval}.json`), '--interval', interval], { cwd: dir, encoding: 'utf8', timeout: 8000 }, (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0, err: stderr }));
    });

  test('longer than a day (past what a timer holds): MALFORMED (exit 2), no request made', async () => {
    requests = 0;
    const r = await run('3000000');
    expect(requests).toBeLessThan(2);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[MALFORMED\]/);
  }, 20_000);

  test('zero or not a number: MALFORMED (exit 2)', async () => {
    for (const interval of ['0', 'often']) {
      const r = await run(interval);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/\[MALFORMED\]/);
    }
  }, 20_000);
});
