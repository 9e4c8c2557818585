/**
 * HTTP/1.1 pipelining is bounded (gateway/http/pipelining.ts). Found by the resource-exhaustion review: node parses
 * every request of a chunk at once and the app answered each, the answers waiting in the heap behind the first, which
 * the client never read: 2,000 `GET /docs/json` in one 76 kB write held 227 MB for as long as the connection stayed
 * open. Now a connection's requests are handled one at a time, and more than MAX_PIPELINED_REQUESTS waiting close it.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_PIPELINED_REQUESTS } from '../../gateway/http/pipelining.js';
import { gatewayWithDevices, type TestGateway } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

function open(port: number): Promise<{ socket: Socket; closed: () => boolean; text: () => string }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    let text = '';
    const socket = netConnect(port, '127.0.0.1', () => resolve({ socket, closed: () => closed, text: () => text }));
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

const connections = (t: TestGateway) => new Promise<number>((resolve, reject) => t.gw.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

describe('HTTP pipelining', () => {
  let t: TestGateway;
  beforeAll(async () => {
    ({ t } = await gatewayWithDevices(0));
  });
  afterAll(() => t.stop());

  test('2,000 requests in one write, never read: the connection is closed, not 227 MB of answers kept', async () => {
    const c = await open(t.gw.httpPort);
    c.socket.pause(); // reads nothing (so it does not see the close either)
    c.socket.write(get('/docs/json').repeat(2000));
    for (const until = Date.now() + 5000; (await connections(t)) > 0 && Date.now() < until; ) await sleep(20);
    expect(await connections(t)).toBe(0);
    c.socket.destroy();
    const health = await fetch(`http://127.0.0.1:${t.gw.httpPort}/healthz`);
    expect(health.status).toBe(200);
  });

  test('pipelined requests within the bound are answered one at a time, each once the answer before it is written', async () => {
    const c = await open(t.gw.httpPort);
    // When each answer's headers were made and when it was written whole (its 'finish'), in one sequence.
    let step = 0;
    const made: number[] = [];
    const written: number[] = [];
    const watch = (_req: IncomingMessage, res: ServerResponse) => {
      const i = made.length;
      made.push(-1);
      written.push(-1);
      const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
      (res as unknown as { writeHead: (...a: unknown[]) => ServerResponse }).writeHead = (...a) => ((made[i] = step++), writeHead(...a));
      res.once('finish', () => (written[i] = step++));
    };
    t.gw.app.server.prependListener('request', watch); // before the app's handler, which may answer at once
    c.socket.write(get('/docs/json').repeat(MAX_PIPELINED_REQUESTS));
    const statusLines = () => c.text().match(/HTTP\/1\.1 \d{3}/g) ?? [];
    for (const until = Date.now() + 5000; statusLines().length < MAX_PIPELINED_REQUESTS && Date.now() < until; ) await sleep(20);
    t.gw.app.server.off('request', watch);
    expect(statusLines()).toEqual(Array(MAX_PIPELINED_REQUESTS).fill('HTTP/1.1 200'));
    expect(made).toHaveLength(MAX_PIPELINED_REQUESTS);
    for (let i = 1; i < MAX_PIPELINED_REQUESTS; i++) expect(made[i]).toBeGreaterThan(written[i - 1]!);
    expect(c.closed()).toBe(false);
    c.socket.destroy();
  });

  test('a few pipelined requests of different routes get their answers in order', async () => {
    const c = await open(t.gw.httpPort);
    c.socket.write(get('/healthz') + get('/v1/nothing-here') + get('/v1/log') + get('/v1/entries/99'));
    const statusLines = () => c.text().match(/HTTP\/1\.1 \d{3}/g) ?? [];
    for (const until = Date.now() + 5000; statusLines().length < 4 && Date.now() < until; ) await sleep(20);
    expect(statusLines()).toEqual(['HTTP/1.1 200', 'HTTP/1.1 404', 'HTTP/1.1 200', 'HTTP/1.1 404']);
    expect(c.text()).toContain('"code":"NOT_FOUND"');
    c.socket.destroy();
  });
});
