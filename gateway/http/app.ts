/**
 * The HTTP API as a Fastify app factory (`buildHttpApp`), separate from `listen`, so tests use `inject()`.
 * Schema-first: each route's TypeBox schema is its validation, serialization, types and OpenAPI entry.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { createServer as createHttpsServer } from 'node:https';
import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import { boundPipelining, oneAtATime } from './pipelining.js';
import { type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { statusFor, toErrorBody, type AnyErrorCode } from './error-registry.js';
import { exposition, type GatewayMetrics } from '../metrics.js';
import { tlsServerOptions, type TlsMaterial } from '../mqtt/tls-material.js';
import { defaultWebRoot, registerWebPage } from './web-page.js';
import { throwsToDone } from './plugin-guard.js';
import { ErrorBody, decimalIntegerCheck, documentErrors, documentForGenerators, jsonBodyCheck, knownQueryCheck, safeIntegerKeyword } from './schemas.js';

export type HttpApp = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  import('fastify').FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface HttpAppOptions {
  logLevel: string;
  /** Requests per minute per client address: one budget shared by the three registry writes (routes/registry.ts), another of its own for POST /v1/verify. */
  writeRateLimit: number;
  /**
   * The reverse proxies whose X-Forwarded-For is believed (config trustProxy: addresses, CIDR ranges, proxy-addr's
   * named ranges): a request from one of them is keyed, rate-limited and logged by the client address the header
   * names. None (the default): the header is ignored and the address is the connection's.
   */
  trustProxy?: readonly string[] | null;
  /**
   * Longest a request may take to arrive whole, headers and body (node's requestTimeout; 408 and closed after it).
   * Default 60 s. Without it a client could hold a request, and its connection, open for good.
   */
  requestTimeoutMs?: number;
  bodyLimit: number;
  metrics: GatewayMetrics;
  /** Null when ready; else why not (GET /readyz answers 503 with it). */
  notReady: () => { code: AnyErrorCode; message: string } | null;
  /** Registers the API routes (gateway/http/routes/*) inside the app. */
  routes: (app: HttpApp) => Promise<void> | void;
  version: string;
  /** The built verifier web page served at `/` (default dist/web, found from this module; null: none). */
  webRoot?: string | null;
  /** Serve HTTPS with this certificate (chain) and key (PEM), instead of plain HTTP. */
  tls?: { cert: string; key: string } | null;
  /** Test-only: where the log lines go (default stdout). */
  logStream?: { write(line: string): void };
  /**
   * Test-only: sees every object a route answers before its response schema serializes it (Fastify's preSerialization),
   * so that a contract test can tell a field the schema drops (fast-json-stringify leaves out what it does not name).
   */
  observePayload?: (route: { method: string; url: string }, status: number, payload: unknown) => void;
}

/** A route the app serves, as registered (its schema says which params, query and body it takes). */
export interface RouteSummary {
  method: string;
  url: string;
  schema?: { params?: unknown; querystring?: unknown; body?: unknown };
}

const routeLists = new WeakMap<object, RouteSummary[]>();

/** Every route of an app built here, plugins' (docs, static files) included: what the HTTP fuzzer walks. */
export function routesOf(app: HttpApp): readonly RouteSummary[] {
  return routeLists.get(app) ?? [];
}

/**
 * node:http's own bounds on a request's arrival: the whole request within `requestTimeout`, its headers within
 * `headersTimeout` (at most a minute, node's default), checked every `connectionsCheckingInterval` (node's 30 s, less
 * for a short timeout so that it holds to within a quarter of itself).
 */
function requestTimeouts(ms: number): { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number } {
  return { requestTimeout: ms, headersTimeout: Math.min(ms, 60_000), connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(ms / 4))) };
}

/**
 * A request node's HTTP parser refuses (malformed HTTP, a request line or headers over node's 16 KiB, a request not
 * arrived whole within requestTimeout): answered as every other 4xx, `{code, message}`, then the connection closed.
 * As Fastify's default handler otherwise (nothing to answer on a reset or destroyed socket).
 */
function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'the request did not arrive whole in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request line and headers are over the size limit (16 KiB)']
        : [400, 'the request is not well-formed HTTP/1.1'];
  const body = JSON.stringify({ code: 'BAD_REQUEST', message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/**
 * The request as logged: Fastify's own fields (its default serializer), and `proxyAddress`, the connection's address,
 * when it is a trusted proxy's and `remoteAddress` is the client it named in X-Forwarded-For.
 */
function requestLogFields(req: import('fastify').FastifyRequest): Record<string, unknown> {
  const connection = req.socket?.remoteAddress;
  return {
    method: req.method,
    url: req.url,
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
    ...(connection !== undefined && connection !== req.ip ? { proxyAddress: connection } : {}),
  };
}

/**
 * The HTTPS server, with what Fastify sets on a server it makes itself and not on one a serverFactory makes (found by
 * review: the keep-alive timeout stayed node's 5 s under --https, where README promises 72 s, Fastify's): its
 * keep-alive timeout, request timeout and connection timeout, from Fastify's own options with their defaults.
 */
function httpsServerFactory(tls: Pick<TlsMaterial, 'cert' | 'key'>, timeouts: object) {
  // Fastify's FastifyServerFactory hands its options over as Record<string, any>.
  return (handler: import('node:http').RequestListener, fastifyOpts: Record<string, unknown>): HttpServer => {
    const server = createHttpsServer({ ...tlsServerOptions(tls), ...timeouts }, handler);
    server.keepAliveTimeout = fastifyOpts.keepAliveTimeout as number;
    server.requestTimeout = fastifyOpts.requestTimeout as number;
    server.setTimeout(fastifyOpts.connectionTimeout as number);
    return server as unknown as HttpServer;
  };
}

export async function buildHttpApp(opts: HttpAppOptions): Promise<HttpApp> {
  // requireHostHeader: node's check answered 400 with no body; it is made again below (onRequest) with the registered one.
  const timeouts = { ...requestTimeouts(opts.requestTimeoutMs ?? 60_000), requireHostHeader: false };
  const app = Fastify({
    logger: opts.logLevel === 'silent' ? false : { level: opts.logLevel, serializers: { req: requestLogFields }, ...(opts.logStream ? { stream: opts.logStream } : {}) },
    bodyLimit: opts.bodyLimit,
    // request.ip (the rate limits' key, the log's remoteAddress) is the connection's address unless it is a trusted proxy's.
    trustProxy: opts.trustProxy && opts.trustProxy.length > 0 ? [...opts.trustProxy] : false,
    requestTimeout: timeouts.requestTimeout,
    http: timeouts,
    // HTTPS through node:https; an https.Server takes the same (req, res) handler and is typed as the http.Server
    // the rest of the app is written against (the API does not touch the server beyond listen/address/close).
    // `https: true` only tells Fastify the scheme (its "Server listening at https://..." log line, listeningOrigin):
    // serverFactory makes the server (it said http:// under --https: found by the README walk).
    ...(opts.tls
      ? { https: true, serverFactory: httpsServerFactory(opts.tls!, timeouts) }
      : {}),
    // safeIntegerKeyword: the integer parameters' check that no coerced "Infinity" passes (schemas.ts SafeUint).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array' }, plugins: [(ajv) => (safeIntegerKeyword(ajv), ajv)] },
    // Errors the router answers before any route runs (a bad URL escape, a path parameter over maxParamLength) get
    // the same `{code, message}` body as every other error; without this they had Fastify's own shape.
    frameworkErrors: (err, _request, reply) => {
      const { status, body } = toErrorBody(err);
      void (reply as import('fastify').FastifyReply).status(status).send(body);
    },
    // And those node's HTTP parser refuses before Fastify sees a request (found by review: Fastify's own body,
    // {"error","message","statusCode"}, no code).
    clientErrorHandler: clientError,
    // Requests arriving on an open connection while the app closes are answered UNAVAILABLE below (Fastify's own 503
    // had the body {"error","message","statusCode"}, no code: found by review).
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Pipelined requests: one at a time per connection, at most MAX_PIPELINED_REQUESTS waiting (pipelining.ts). First
  // of the hooks, so that it holds for every route.
  boundPipelining(app.server);
  app.addHook('onRequest', (request, reply, done) => oneAtATime(request.raw, reply.raw, done));
  // JSON bodies only: Fastify also parses text/plain by default, which then failed schema validation (400) where every
  // other content type is refused 415.
  app.removeContentTypeParser('text/plain');
  const routes: RouteSummary[] = [];
  routeLists.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url, ...(r.schema ? { schema: r.schema as RouteSummary['schema'] } : {}) });
    // Query parameters a /v1 route does not take are refused, not ignored (schemas.ts knownQueryCheck). Integer path and
    // query parameters must be decimal digits before Ajv's coercion reads "0x1" or " " as a number (schemas.ts
    // decimalIntegerCheck). Both come first among the route's preValidation hooks.
    const digitsOnly = decimalIntegerCheck(r.schema as Parameters<typeof decimalIntegerCheck>[0]);
    // A JSON body's values must be of their schema's types before the same coercion takes them (schemas.ts jsonBodyCheck).
    const typedBody = jsonBodyCheck(r.schema as Parameters<typeof jsonBodyCheck>[0]);
    const knownQuery = r.url.startsWith('/v1/') ? knownQueryCheck(r.schema as Parameters<typeof knownQueryCheck>[0]) : null;
    const checks = [knownQuery, digitsOnly, typedBody].filter((c) => c !== null);
    if (checks.length > 0) r.preValidation = [...checks, ...[r.preValidation ?? []].flat()];
    // The error statuses every route can answer, in its OpenAPI entry and serialized by its schema (schemas.ts documentErrors).
    documentErrors(r.schema as Parameters<typeof documentErrors>[0]);
  });

  // throwsToDone: swagger requires modules as it registers, and a failed require must fail this register (plugin-guard.ts).
  await app.register(throwsToDone(swagger), {
    transformObject: (doc) => documentForGenerators('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
    openapi: {
      info: {
        title: 'OriginProof gateway API',
        version: opts.version,
        description: 'Registry of agencies and devices, records in the Merkle log, proofs and verdicts. Errors are `{code, message, path?}`. A query parameter a route does not list is refused (400 BAD_REQUEST).',
      },
      tags: [
        { name: 'registry', description: 'agencies, devices, revocations (signed writes)' },
        { name: 'records', description: 'log entries, checkpoints and proofs' },
        { name: 'verify', description: 'verdicts on bundles and envelopes' },
        { name: 'ops', description: 'health, readiness, metrics' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, { global: false, max: opts.writeRateLimit, timeWindow: 60_000 });

  app.setErrorHandler((err, request, reply) => {
    const { status, body } = toErrorBody(err);
    if ((err as { code?: unknown }).code === 'LEDGER_DAMAGED') opts.metrics.ledgerDamageFound.inc();
    if (status >= 500) request.log.error({ err }, 'request failed');
    // A 429 says when to ask again (documented with ErrorBody): the rate limiter has set it for its window; the
    // verdicts' time budget (time-budget.ts) refuses for the rest of its one-second window.
    if (status === 429 && !reply.hasHeader('retry-after')) void reply.header('retry-after', '1');
    void reply.status(status).send(body);
  });
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (closing) {
      // /readyz says NOT_READY while stopping, as before the app closes (README); every other route UNAVAILABLE.
      const code = request.url === '/readyz' || request.url.startsWith('/readyz?') ? 'NOT_READY' : 'UNAVAILABLE';
      void reply.header('connection', 'close').status(statusFor(code)).send({ code, message: 'the gateway is shutting down: ask again later' });
      return;
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is 400 (node's own check, off above, sent no body).
    const { httpVersionMajor: major, httpVersionMinor: minor } = request.raw;
    if ((major > 1 || (major === 1 && minor >= 1)) && request.headers.host === undefined) {
      void reply.header('connection', 'close').status(400).send({ code: 'BAD_REQUEST', message: 'an HTTP/1.1 request needs a Host header' });
      return;
    }
    done();
  });
  // An Expect header other than 100-continue: node answered 417 with no body.
  app.server.on('checkExpectation', (_req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const body = JSON.stringify({ code: 'BAD_REQUEST', message: 'the only expectation this server meets is Expect: 100-continue' });
    res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });
  if (opts.observePayload) {
    const observe = opts.observePayload;
    app.addHook('preSerialization', async (request, reply, payload) => {
      observe({ method: request.method, url: request.routeOptions.url ?? request.url }, reply.statusCode, payload);
      return payload;
    });
  }
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` });
  });

  /** The one answer of /healthz and of a ready /readyz: `{status}`, required (typed clients read it as always there). */
  const statusBody = <S extends string>(status: S) => Type.Object({ status: Type.Literal(status) });
  app.get('/healthz', { schema: { tags: ['ops'], operationId: 'getHealth', summary: 'Liveness: the process answers HTTP', response: { 200: statusBody('ok') } } }, async () => ({ status: 'ok' as const }));
  app.get(
    '/readyz',
    { schema: { tags: ['ops'], operationId: 'getReadiness', summary: 'Readiness: 200 when the gateway takes readings and writes, else 503 with why', response: { 200: statusBody('ready'), 503: ErrorBody(503) } } },
    async (_req, reply) => {
      const why = opts.notReady();
      if (!why) return { status: 'ready' as const };
      return reply.status(503).send(why);
    },
  );
  // OpenAPI only (Type.Unsafe-like plain schema): the exposition is sent as the registry's text.
  const metricsText = { description: 'Prometheus text exposition', content: { 'text/plain': { schema: { type: 'string' } } } };
  app.get('/metrics', { schema: { tags: ['ops'], operationId: 'getMetrics', summary: 'Prometheus metrics (text exposition format)', hide: false, response: { 200: metricsText } } }, async (_req, reply) => {
    void reply.header('content-type', opts.metrics.registry.contentType);
    return exposition(opts.metrics);
  });

  await opts.routes(app);
  if (opts.webRoot !== null) await registerWebPage(app, opts.webRoot ?? defaultWebRoot());
  return app;
}
