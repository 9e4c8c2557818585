/**
 * Review of the HTTP API's error bodies (review-http): README says every 4xx body is `{code, message}` with a code
 * from the closed set. Requests node's HTTP parser refuses before any route runs (a request line or headers over
 * node's 16 KiB, e.g. a long query string on GET /v1/entries; a malformed request line or header; a request not
 * arriving whole in time) were answered with Fastify's own body, `{"error","message","statusCode"}`, no `code`;
 * an HTTP/1.1 request without Host (400) and an Expect other than 100-continue (417) by node with no body at all.
 * Found with raw sockets (inject() does not go through the parser).
 */
import { connect } from 'node:net';
import { describe, expect, test } from 'vitest';
import { ALL_ERROR_CODES } from '../../gateway/http/error-registry.js';
import { gatewayWithDevices, useGatewayWithDevices } from './harness.js';

/** Send raw bytes to the API, read until the server closes (or 5 s). */
function raw(port: number, data: string, keepOpen = false): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(data));
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, keepOpen ? 8000 : 5000);
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', () => undefined);
  });
}

function parse(answer: string): { status: number; headers: string; body: unknown } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]), headers: head, body: body ? JSON.parse(body) : undefined };
}

describe('review-http: requests the HTTP parser refuses get a registered {code, message} body', () => {
  const fx = useGatewayWithDevices(1, { httpRequestTimeoutMs: 1000 });

  test.each([
    ['a query string over the header limit', 431, `GET /v1/entries?fromMs=0&toMs=1&x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['a header over the limit', 431, `GET /v1/log HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`],
    ['a request line that is no HTTP', 400, 'GARBAGE\r\n\r\n'],
    ['a malformed header name', 400, 'GET /v1/log HTTP/1.1\r\nHo st: x\r\n\r\n'],
    ['two Content-Length headers', 400, 'POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}'],
    ['an HTTP/1.1 request without Host', 400, 'GET /v1/entries/0 HTTP/1.1\r\nConnection: close\r\n\r\n'],
    ['an expectation other than 100-continue', 417, 'POST /v1/verify HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'],
    ['a bad chunk size', 400, 'POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ] as const)('%s: %i', async (_name, status, data) => {
    const r = parse(await raw(fx.t.gw.httpPort, data));
    expect(r.status).toBe(status);
    expect(r.body).toEqual({ code: 'BAD_REQUEST', message: expect.any(String) });
  });

  test('a request that does not arrive whole in time: 408 with a registered code', async () => {
    const r = parse(await raw(fx.t.gw.httpPort, 'GET /v1/log HTTP/1.1\r\nHost: x\r\n', true));
    expect(r.status).toBe(408);
    expect(r.body).toEqual({ code: 'BAD_REQUEST', message: expect.any(String) });
    expect(ALL_ERROR_CODES).toContain((r.body as { code: string }).code);
  });

  test('HTTP/1.0 needs no Host; 100-continue is met', async () => {
    const old = parse(await raw(fx.t.gw.httpPort, 'GET /v1/entries/99999 HTTP/1.0\r\n\r\n'));
    expect([old.status, (old.body as { code: string }).code]).toEqual([404, 'NOT_FOUND']);
    const cont = await raw(fx.t.gw.httpPort, 'POST /v1/verify HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    expect(cont.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    expect(parse(cont.slice('HTTP/1.1 100 Continue\r\n\r\n'.length)).body).toEqual({ code: 'BAD_REQUEST', message: expect.any(String) });
  });

  test('the API still answers afterwards', async () => {
    expect(parse(await raw(fx.t.gw.httpPort, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).body).toEqual({ status: 'ok' });
  });
});

describe('review-http: a request on an open connection while the gateway shuts down', () => {
  /**
   * A request kept in progress on a raw connection past the start of the gateway's shutdown, then `after` sent on it
   * once the listener is closed: every answer on the connection, in order.
   */
  async function answersDuringShutdown(after: string) {
    const { t } = await gatewayWithDevices(1);
    const s = connect(t.gw.httpPort, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    s.write('POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n{"envelope"');
    const closing = t.stop();
    while (t.gw.app.server.listening) await new Promise((r) => setTimeout(r, 5));
    s.write(`:"AA=="}${after}`);
    await new Promise<void>((r) => {
      s.once('close', () => r());
      setTimeout(r, 3000);
    });
    s.destroy();
    await closing;
    return out.split(/(?=HTTP\/1\.1 \d{3} )/).map(parse);
  }

  test('/readyz says NOT_READY then, as while the gateway stops before its HTTP app closes', async () => {
    const answers = await answersDuringShutdown('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(answers.map((a) => a.status)).toEqual([200, 503]);
    expect(answers[1]!.body).toEqual({ code: 'NOT_READY', message: expect.any(String) });
  });

  test('is answered 503 UNAVAILABLE, {code, message} (was Fastify\'s own body, no code)', async () => {
    // the request in progress keeps the connection open past the start of the shutdown
    const answers = await answersDuringShutdown('GET /v1/log HTTP/1.1\r\nHost: x\r\n\r\nGET /no/such/route HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(answers[0]!.status).toBe(200); // the request in progress is served
    expect(answers.length).toBeGreaterThan(1);
    for (const a of answers.slice(1)) expect(a.status).toBe(503);
    // (the connection is closed after the first refusal: the pipelined requests after it get no answer)
    expect(answers[1]!.body).toEqual({ code: 'UNAVAILABLE', message: expect.any(String) });
  });
});
