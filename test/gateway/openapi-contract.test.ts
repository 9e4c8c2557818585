/**
 * The HTTP contract, walked from the OpenAPI document the gateway serves (/docs/json), against a real gateway
 * (startGateway: aedes, Fastify, LevelDB in a temp dir). The document is checked with a validator
 * (@apidevtools/swagger-parser); then every operation in it is exercised through inject(): valid requests, missing
 * resources, wrong-typed and out-of-bounds parameters, bodies of the wrong JSON type, content type or size, a
 * second write within a rate limit of one, a store that fails its writes or its reads, and a request on an open
 * connection while the gateway shuts down. Every answer must have a status the operation documents, a content type
 * it documents for that status, a JSON body that the documented schema validates, closed to fields it does not
 * name (an error's `code` one the registry gives that status), and only x- headers it documents; and the object the
 * route answered must reach the client whole: a field the response schema leaves out is dropped silently by
 * fast-json-stringify (GatewayRuntime.observePayload sees the object before it is serialized). The walk runs against
 * an empty gateway too; HTTP's own refusals (408, 417, 431) and both kinds of 429 (with retry-after) are sent to
 * every operation. The document itself: every route of the app's table in it, each operation with a summary, tags
 * and an operationId, error statuses as {code, message} with their codes, integers int64 and string choices enums
 * (what client generators need). README's HTTP API table must name every operation.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createRevocation, decodeProofBundle, parseNote, toBase64 } from '../../protocol/index.js';
import { REVOCATION_REASONS } from '../../protocol/revocation.js';
import { subjectCommitment } from '../../protocol/biometric.js';
import { routesOf } from '../../gateway/http/app.js';
import { defaultWebRoot } from '../../gateway/http/web-page.js';
import { Base64 } from '../../gateway/http/schemas.js';
import type { LedgerBackend } from '../../ledger/backend.js';
import type { GatewayRuntime } from '../../gateway/gateway.js';
import { SteppingClock } from './stepping-clock.js';
import { Pki, nowS, publishEach, reading, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

type Json = Record<string, unknown>;

/** `visit` every object under `x` (each schema and sub-schema of a document part), with its path from `where`. */
function eachSchema(x: unknown, where: string, visit: (s: Json, where: string) => void): void {
  if (!x || typeof x !== 'object') return;
  if (Array.isArray(x)) return x.forEach((y, i) => eachSchema(y, `${where}[${i}]`, visit));
  visit(x as Json, where);
  for (const [k, v] of Object.entries(x)) eachSchema(v, `${where}.${k}`, visit);
}
interface Param { name: string; in: 'path' | 'query'; required?: boolean; schema: Json }
interface Operation { parameters?: Param[]; requestBody?: { content: Record<string, { schema: Json }> }; responses: Record<string, { content?: Record<string, { schema: Json }>; headers?: Record<string, unknown> }> }
interface Op { method: string; path: string; op: Operation }
interface Req { method: string; url: string; payload?: string | object; headers?: Record<string, string> }

const MAX = Number.MAX_SAFE_INTEGER;

/**
 * Faults below the fail-stop layer: writes fail while `failWrites`, reads while `failReads` (EIO: classic-level's
 * LEVEL_IO_ERROR, or without a code, an error the gateway cannot place, while `readErrorCode` is undefined).
 */
class Faults {
  failWrites = false;
  failReads = false;
  readErrorCode: string | undefined = 'LEVEL_IO_ERROR';
  private readError(): Error {
    return Object.assign(new Error('EIO: read error (injected)'), this.readErrorCode ? { code: this.readErrorCode } : {});
  }
  readonly wrap = (inner: LedgerBackend): LedgerBackend => {
    const reads = new Set(['getEntries', 'getTiles', 'getHeader', 'blockHeightFor', 'getCheckpoint', 'deviceHits', 'deviceSeq', 'timeHits', 'typeHits']);
    const writes = new Set(['writeBlock', 'writeMeta', 'writeTokenIats']);
    return new Proxy(inner, {
      get: (target, prop) => {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        const fn = (value as (...a: unknown[]) => unknown).bind(target);
        if (writes.has(String(prop))) return (...a: unknown[]) => (this.failWrites ? Promise.reject(new Error('EIO: i/o error (injected)')) : fn(...a));
        if (reads.has(String(prop))) {
          return (...a: unknown[]) => {
            if (!this.failReads) return fn(...a);
            if (prop === 'deviceHits' || prop === 'timeHits' || prop === 'typeHits') {
              const err = this.readError();
              return (async function* () {
                throw err;
              })();
            }
            return Promise.reject(this.readError());
          };
        }
        return fn;
      },
    });
  };
}

/** The OpenAPI path of a Fastify URL pattern: /v1/entries/:index -> /v1/entries/{index}. */
const openapiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');

/** What routes answered before serialization, by "METHOD /openapi/{path}" (the last one). */
const observed = new Map<string, { status: number; payload: unknown }>();
const runtime = (faults?: Faults): GatewayRuntime => ({
  observePayload: (route, status, payload) => observed.set(`${route.method} ${openapiPath(route.url)}`, { status, payload }),
  ...(faults ? { wrapBackend: faults.wrap } : {}),
});

/** What the checks saw, so that a test can tell it reached what it means to check. */
const seenTypes = new Set<string>();
let compared = 0;

/**
 * The schema with every object that lists its properties closed to others (additionalProperties: false, unless it
 * says): an answer with a field its documented schema does not name fails, also where the answer is not serialized
 * by that schema (a field the schema omits is otherwise either dropped or sent undocumented).
 */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (!schema || typeof schema !== 'object') return schema;
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([n, x]) => [n, closed(x)])) : closed(v)])) as Json;
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const validators = new Map<Json, ReturnType<typeof ajv.compile>>();

/** The OpenAPI path of a Fastify URL pattern: /v1/entries/:index -> /v1/entries/{index}. */
/** JSON text with every object's keys sorted: two answers equal in content compare equal whatever their key order. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));


/** Problems with one answer of operation `o`; [] when it is as documented. */
function problems(o: Op, req: Req, res: { statusCode: number; headers: Record<string, unknown>; body: string; rawPayload: Buffer }): string[] {
  const where = `${req.method} ${req.url.slice(0, 120)} -> ${res.statusCode}`;
  const documented = o.op.responses[String(res.statusCode)];
  if (!documented) return [`${where}: status not documented (${Object.keys(o.op.responses).join(', ')}); body ${res.body.slice(0, 200)}`];
  const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
  const content = documented.content ?? {};
  if (!(type in content)) return [`${where}: content type ${type || '(none)'} not documented (${Object.keys(content).join(', ') || 'no content'})`];
  const out: string[] = [];
  seenTypes.add(type);
  // a header of this API's own (x-...) is documented; the rate limiter's are generic
  for (const h of Object.keys(res.headers).filter((k) => k.startsWith('x-') && !k.startsWith('x-ratelimit-') && k !== 'x-content-type-options')) {
    if (!(h in (documented.headers ?? {}))) out.push(`${where}: header ${h} not documented`);
    else seenTypes.add(h);
  }
  // a client told to wait is told how long, by a header its entry names (the rate limiter's and the verdicts' budget alike)
  if (res.statusCode === 429 && (!('retry-after' in res.headers) || !('retry-after' in (documented.headers ?? {})))) out.push(`${where}: retry-after not sent or not documented`);
  if (type === 'application/json') {
    const body = JSON.parse(res.body) as unknown;
    const schema = content[type]!.schema;
    let validate = validators.get(schema);
    if (!validate) validators.set(schema, (validate = ajv.compile(closed(schema) as Json)));
    if (!validate(body)) out.push(`${where}: body does not match its schema: ${ajv.errorsText(validate.errors)}; body ${res.body.slice(0, 300)}`);
    const seen = observed.get(`${req.method} ${o.path}`);
    if (seen && seen.status === res.statusCode) compared++;
    if (seen && seen.status === res.statusCode && canonical(body) !== canonical(JSON.parse(JSON.stringify(seen.payload)))) {
      out.push(`${where}: the answer lost or changed fields in serialization: route gave ${JSON.stringify(seen.payload)}, client got ${res.body}`);
    }
  } else if (type === 'application/cbor') {
    decodeProofBundle(new Uint8Array(res.rawPayload));
  } else if (type === 'text/plain' && o.path.startsWith('/v1/checkpoints')) {
    parseNote(res.body);
  }
  return out;
}

describe('the OpenAPI document describes every answer of every route', () => {
  let t: TestGateway;
  let limited: TestGateway;
  const faults = new Faults();
  let pki: Pki;
  let agency: Party;
  let devices: Device[];
  let spec: { paths: Record<string, Record<string, Operation>> };
  let ops: Op[];
  /** Valid values of the parameters by name ("path name" overrides "name"), and values that name nothing. */
  let valid: Record<string, unknown[]>;
  let bodies: Record<string, object[]>;
  const missing: Record<string, unknown> = { index: MAX, treeSize: MAX, height: MAX, deviceId: '00'.repeat(17), agencyId: 'nobody.example' };
  const found: string[] = [];

  /** Send `req` as operation `o` and record what is not as documented. */
  async function ask(o: Op, req: Req, gw = t): Promise<number> {
    observed.delete(`${req.method} ${o.path}`);
    const res = await gw.gw.app.inject({ method: req.method as 'GET', url: req.url, ...(req.payload !== undefined ? { payload: req.payload } : {}), ...(req.headers ? { headers: req.headers } : {}) });
    found.push(...problems(o, req, res));
    return res.statusCode;
  }

  const urlOf = (o: Op, path: Record<string, unknown>, query: Record<string, unknown>) => {
    const p = o.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(String(path[n])));
    const q = Object.entries(query).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&');
    return q ? `${p}?${q}` : p;
  };
  const values = (o: Op, name: string): unknown[] => valid[`${o.path} ${name}`] ?? valid[name] ?? [];

  /** Requests for `o`: valid ones, each optional query parameter on its own, missing resources, bad parameters. */
  function requests(o: Op): Req[] {
    const params = o.op.parameters ?? [];
    const path = Object.fromEntries(params.filter((p) => p.in === 'path').map((p) => [p.name, values(o, p.name)[0]]));
    const required = Object.fromEntries(params.filter((p) => p.in === 'query' && p.required).map((p) => [p.name, values(o, p.name)[0]]));
    const method = o.method.toUpperCase();
    const out: Req[] = [];
    const withBody = (url: string) => (bodies[`${method} ${o.path}`] ?? [undefined]).map((payload) => ({ method, url, ...(payload ? { payload } : {}) }));
    out.push(...withBody(urlOf(o, path, required)));
    for (const p of params) {
      if (p.in === 'path') {
        for (const v of values(o, p.name).slice(1)) out.push(...withBody(urlOf(o, { ...path, [p.name]: v }, required)));
        out.push(...withBody(urlOf(o, { ...path, [p.name]: missing[p.name] }, required)));
      } else {
        for (const v of values(o, p.name)) out.push(...withBody(urlOf(o, path, { ...required, [p.name]: v })));
        if (p.required) out.push(...withBody(urlOf(o, path, Object.fromEntries(Object.entries(required).filter(([k]) => k !== p.name)))));
      }
      // wrong types and out of bounds
      const s = p.schema;
      const bad: unknown[] = ['', 'x', '-1', '1.5', '0x1', `${MAX}0`, '{}'];
      if (typeof s.maximum === 'number' && s.maximum < MAX) bad.push(s.maximum + 1);
      if (typeof s.minimum === 'number' && s.minimum > 0) bad.push(s.minimum - 1);
      if (typeof s.maxLength === 'number') bad.push('a'.repeat(s.maxLength + 1));
      if (p.in === 'path') bad.push('a'.repeat(101), '1'.repeat(101)); // over the router's maxParamLength
      for (const v of bad) {
        out.push(...withBody(p.in === 'path' ? urlOf(o, { ...path, [p.name]: v }, required) : urlOf(o, path, { ...required, [p.name]: v })));
      }
    }
    return out;
  }

  beforeAll(async () => {
    pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000 }, undefined, runtime(faults));
    agency = await pki.agency('psb.example');
    devices = [await pki.device(agency), await pki.device(agency), await pki.device(agency)];
    await register(t.gw, agency, devices.slice(0, 2)); // the third is registered by the walk (201)
    const [d1, d2] = devices as [Device, Device];
    // sensor and biometric readings, then a keyCompromise revocation: every view has something to show
    const bio = await reading(d1, 3, { body: { kind: 'biometric', purpose: 'door-access', result: 'match', score: 900, subjectCommitment: subjectCommitment(new Uint8Array(16).fill(7), 'subject-1') } });
    const outcomes = await publishEach(t, d1, [await reading(d1, 1), await reading(d1, 2), bio]);
    expect(outcomes.every((x) => typeof x === 'object')).toBe(true);
    const revocation = await createRevocation(agency.signer, d2.cert, { reason: 'keyCompromise', revokedFrom: nowS() - 60, iat: nowS() });
    expect((await t.gw.app.inject({ method: 'POST', url: '/v1/revocations', payload: { revocation: toBase64(revocation) } })).statusCode).toBe(201);
    await publishEach(t, d1, [await reading(d1, 10)]);
    const log = (await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json() as { size: number };
    const entry0 = (await t.gw.app.inject({ method: 'GET', url: '/v1/entries/0' })).json() as { receivedAtMs: number };
    const bundle = (await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${log.size - 1}/bundle` })).rawPayload;
    const bundleJson = (await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${log.size - 1}/bundle?format=json` })).body;
    valid = {
      index: [0, log.size - 1],
      treeSize: [log.size],
      height: [0],
      deviceId: [d1.id, d2.id],
      agencyId: ['psb.example'],
      format: ['cbor', 'json'],
      since: [1],
      fromMs: [0],
      toMs: [MAX],
      from: [1],
      to: [log.size],
      limit: [1],
      '/v1/entries after': [`${entry0.receivedAtMs}:0`],
      '/v1/devices/{deviceId}/entries after': [1],
      '/v1/revocations after': [0],
      '/v1/agencies/{agencyId}/devices after': [d1.id],
    };
    const cert = (c: { bytes: Uint8Array }) => ({ certificate: toBase64(c.bytes) });
    bodies = {
      'POST /v1/agencies': [cert(agency.cert), cert(devices[2]!.cert)],
      'POST /v1/devices': [cert(devices[2]!.cert), cert(agency.cert)],
      'POST /v1/revocations': [{ revocation: toBase64(revocation) }, { revocation: toBase64(revocation) }],
      'POST /v1/verify': [{ bundle: toBase64(bundle) }, { bundle: toBase64((await t.gw.app.inject({ method: 'GET', url: '/v1/entries/0/bundle' })).rawPayload) }, { bundle: Buffer.from(bundleJson).toString('base64') }, { envelope: toBase64(await reading(d1, 1)) }, { envelope: toBase64(await reading(d1, 99)) }],
    };
    spec = (await t.gw.app.inject({ method: 'GET', url: '/docs/json' })).json();
    ops = Object.entries(spec.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ method, path, op })));
    limited = await startTestGateway(await Pki.create(), { writeRateLimit: 1, httpRequestTimeoutMs: 1000 }, undefined, runtime());
  });
  beforeEach(() => {
    found.length = 0;
  });
  afterAll(async () => {
    await limited?.stop();
    await t?.stop();
  });

  test('is a valid OpenAPI document, with every route the app serves', async () => {
    await SwaggerParser.validate(structuredClone(spec) as never);
    const served = new Set(ops.map((o) => `${o.method.toUpperCase()} ${o.path}`));
    // Every route of the app's own table, whatever its path: only the docs' and the verifier page's files may be
    // left out (hidden), so a new route without an OpenAPI entry fails here.
    const webRoot = defaultWebRoot();
    const pageFile = (url: string) => url === '/' || existsSync(join(webRoot, url));
    const undocumented = routesOf(t.gw.app)
      .filter((r) => r.method !== 'HEAD' && !served.has(`${r.method} ${openapiPath(r.url)}`))
      .filter((r) => !((r.schema as { hide?: boolean } | undefined)?.hide && (r.url === '/docs' || r.url.startsWith('/docs/') || pageFile(r.url))))
      .map((r) => `${r.method} ${r.url}`);
    expect(undocumented).toEqual([]);
    expect(ops.length).toBeGreaterThan(20);
  });

  test('every operation has a summary, tags the document declares, and an operationId of its own (what a generated client names it)', () => {
    const declared = new Set((spec as unknown as { tags: { name: string }[] }).tags.map((x) => x.name));
    const op = (o: Op) => o.op as Operation & { summary?: string; tags?: string[]; operationId?: string };
    const lacking = ops.filter((o) => !op(o).summary?.trim() || !op(o).tags?.length || !op(o).tags!.every((x) => declared.has(x)) || !/^[a-z][A-Za-z0-9]*$/.test(op(o).operationId ?? ''));
    expect(lacking.map((o) => `${o.method.toUpperCase()} ${o.path}`)).toEqual([]);
    const ids = ops.map((o) => op(o).operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('every integer says its width (int64): a generator for a typed language otherwise makes an int32, which a log index or a time in ms overflows', () => {
    const bare: string[] = [];
    eachSchema(spec.paths, '', (s, where) => {
      if (s.type === 'integer' && s.format !== 'int64') bare.push(where);
    });
    expect(bare).toEqual([]);
  });

  test('every byte string in base64 says so (format byte): a generator makes a byte array of it, decoded for the client', () => {
    const bare: string[] = [];
    const said: string[] = [];
    eachSchema(spec.paths, '', (s, where) => {
      const base64 = /base64/i.test(String(s.description ?? '')) || s.pattern === Base64.pattern;
      if (s.type === 'string' && base64 && s.format !== 'byte') bare.push(where);
      if (s.format === 'byte') said.push(where);
      if ('contentEncoding' in s) bare.push(`${where}: contentEncoding (not OpenAPI 3.0)`);
    });
    expect(bare).toEqual([]);
    // the registry's certificate bodies and the bundle's JSON view among them
    const certificate = (spec.paths['/v1/agencies']!.post!.requestBody as { content: Record<string, { schema: { properties: Record<string, Json> } }> }).content['application/json']!.schema.properties.certificate;
    expect(certificate).toMatchObject({ type: 'string', format: 'byte' });
    expect(said.filter((w) => w.includes('/v1/entries/{index}/bundle')).length).toBeGreaterThan(3);
  });

  test('a choice of strings is an enum, not an anyOf of one-value enums (which generators for typed languages make wrapper classes of)', () => {
    const unions: string[] = [];
    eachSchema(spec.paths, '', (s, where) => {
      const anyOf = s.anyOf as Json[] | undefined;
      if (anyOf?.every((b) => b.type === 'string' && (b.enum as unknown[] | undefined)?.length === 1 && Object.keys(b).length === 2)) unions.push(where);
    });
    expect(unions).toEqual([]);
    const status = (spec.paths['/v1/devices/{deviceId}']!.get!.responses['200']!.content!['application/json']!.schema as { properties: { status: Json } }).properties.status;
    expect(status).toEqual({ type: 'string', enum: ['active', 'revoked', 'expired', 'not-yet-valid', 'agency-revoked', 'untrusted'] });
  });

  test('a field of a closed set of strings is an enum, and a verdict\'s reading body has its schema: a generated client narrows them', () => {
    type Obj = { properties: Record<string, Json & { items?: Obj; properties?: Record<string, Json> }> };
    const ok = (path: string, method: string, status: string) => spec.paths[path]![method]!.responses[status]!.content!['application/json']!.schema as unknown as Obj;
    const entry = ok('/v1/entries/{index}', 'get', '200');
    // before: `type: string`, `reason: string`, `result: string` (openapi-typescript: string) and the verdict's body
    // `{}` (unknown): a client could not switch on the entry type or reading kind without casting
    expect(entry.properties.type).toEqual({ type: 'string', enum: ['reading', 'agency-registration', 'device-registration', 'revocation'] });
    const body = (entry.properties.reading!.properties as Record<string, Json>).body as { anyOf: Obj[] };
    expect(body.anyOf[1]!.properties.result).toEqual({ type: 'string', enum: ['match', 'no-match'] });
    const reasons = { type: 'string', enum: [...REVOCATION_REASONS] };
    expect(ok('/v1/revocations', 'get', '200').properties.revocations!.items!.properties.reason).toEqual(reasons);
    expect(ok('/v1/revocations', 'post', '201').properties.reason).toEqual(reasons);
    expect(ok('/v1/devices/{deviceId}', 'get', '200').properties.revocationReason).toEqual(reasons);
    const record = ok('/v1/verify', 'post', '200').properties.record as unknown as Obj;
    expect(record.properties.body).toMatchObject(body);
  });

  test('every error answer is documented as {code, message} with its codes, and every object answered lists the fields it always has', () => {
    const lacking: string[] = [];
    const objects = (x: unknown, where: string): void =>
      eachSchema(x, where, (s, at) => {
        if (s.type === 'object' && s.properties && !(s.required as string[] | undefined)?.length) lacking.push(`${at}: no required field`);
      });
    for (const o of ops) {
      for (const [status, r] of Object.entries(o.op.responses)) {
        const where = `${o.method.toUpperCase()} ${o.path} ${status}`;
        for (const [type, c] of Object.entries(r.content ?? {})) objects(c.schema, `${where} ${type}`);
        if (Number(status) < 400) continue;
        const schema = r.content?.['application/json']?.schema as { required?: string[]; properties?: { code?: { enum?: string[] } } } | undefined;
        const codes = schema?.properties?.code?.enum ?? [];
        if (!schema?.required?.includes('code') || !schema.required.includes('message') || codes.length === 0) lacking.push(`${where}: not an error body with its codes`);
      }
    }
    expect(lacking).toEqual([]);
  });

  test("README's HTTP API table names every operation of the document", async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### HTTP API'), readme.indexOf('### Error codes'));
    const named = new Set([...section.matchAll(/`(GET|POST) (\/[^`?\s]*)/g)].map((m) => `${m[1]} ${m[2]!.replace(/:\w+/g, '{}')}`));
    const missingOps = ops.map((o) => `${o.method.toUpperCase()} ${o.path.replace(/\{\w+\}/g, '{}')}`).filter((k) => !named.has(k));
    expect(missingOps).toEqual([]);
  });

  test('valid requests, missing resources and bad parameters: every answer as documented', async () => {
    const statuses = new Set<number>();
    for (const o of ops) for (const req of requests(o)) statuses.add(await ask(o, req));
    expect(found).toEqual([]);
    // the walk reached the answers it is meant to check
    for (const s of [200, 201, 400, 404, 414]) expect(statuses).toContain(s);
    for (const type of ['application/json', 'application/cbor', 'text/plain', 'x-next-after']) expect(seenTypes).toContain(type);
    expect(compared).toBeGreaterThan(100); // answers whose object, before serialization, was compared with what the client got
  });

  test('an empty gateway (no agency, no entry, no checkpoint yet): every answer as documented', async () => {
    const empty = await startTestGateway(await Pki.create(), {}, undefined, runtime());
    try {
      const statuses = new Set<number>();
      for (const o of ops) if (o.method === 'get') for (const req of requests(o)) statuses.add(await ask(o, req, empty));
      expect(statuses).toContain(200);
      expect(statuses).toContain(404);
    } finally {
      await empty.stop();
    }
    expect(found).toEqual([]);
  });

  test('request bodies: wrong JSON types, no JSON, other content types, over the size limit', async () => {
    const posts = ops.filter((o) => o.op.requestBody);
    expect(posts.map((o) => o.path).sort()).toEqual(['/v1/agencies', '/v1/devices', '/v1/revocations', '/v1/verify']);
    const big = JSON.stringify({ certificate: 'A'.repeat(t.gw.config.maxReadingBytes * 4 + 1_048_576) });
    for (const o of posts) {
      const [field, good] = Object.entries(bodies[`POST ${o.path}`]![0] as Json)[0]!;
      const json = (payload: string) => ({ method: 'POST', url: o.path, payload, headers: { 'content-type': 'application/json' } });
      const cases: Req[] = [
        ...[[good], true, null, 5, { a: 1 }, 'not base64!'].map((v) => ({ method: 'POST', url: o.path, payload: { [field]: v } })),
        { method: 'POST', url: o.path, payload: {} },
        json('[]'), json('null'), json('"x"'), json('{'), json(''), json(big),
        { method: 'POST', url: o.path, payload: 'x', headers: { 'content-type': 'text/plain' } },
        { method: 'POST', url: o.path, payload: '<a/>', headers: { 'content-type': 'application/xml' } },
        { method: 'POST', url: o.path, payload: Buffer.from([0xa0]), headers: { 'content-type': 'application/cbor' } },
      ];
      const got: number[] = [];
      for (const req of cases) got.push(await ask(o, req));
      // a value of the wrong JSON type is the client's error, never taken as another ([x] as x, true as "true")
      expect(got.slice(0, 5), o.path).toEqual([400, 400, 400, 400, 400]);
      expect(got, o.path).toContain(413);
      expect(got, o.path).toContain(415);
    }
    expect(found).toEqual([]);
  });

  test("a base64 field (README 'Docs and clients'): outside the alphabet BAD_REQUEST, of it but not decoding MALFORMED naming the field", async () => {
    const fields: Array<[string, string]> = [['/v1/agencies', 'certificate'], ['/v1/devices', 'certificate'], ['/v1/revocations', 'revocation'], ['/v1/verify', 'bundle'], ['/v1/verify', 'envelope']];
    for (const [url, field] of fields) {
      const post = (value: string) => t.gw.app.inject({ method: 'POST', url, payload: { [field]: value } });
      // base64url of bytes whose standard base64 has + and /, as a client using the wrong alphabet sends them
      for (const value of ['-_-_', 'AA-A', 'AA_A']) {
        const res = await post(value);
        expect([url, field, value, res.statusCode, res.json().code]).toEqual([url, field, value, 400, 'BAD_REQUEST']);
      }
      for (const value of ['A', 'AAAAA', 'AA=', 'AB==', 'AAB=']) {
        const res = await post(value);
        expect([url, field, value, res.statusCode, res.json().code, res.json().path]).toEqual([url, field, value, 400, 'MALFORMED', field]);
      }
    }
  });

  test('POST /v1/verify takes {bundle} or {envelope}: a body with both is BAD_REQUEST, not the bundle taken silently', async () => {
    const o = ops.find((x) => x.path === '/v1/verify')!;
    const [bundle, , , envelope] = bodies['POST /v1/verify'] as [Json, Json, Json, Json];
    const both = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { ...bundle, ...envelope } });
    expect(both.statusCode).toBe(400);
    expect(both.json().code).toBe('BAD_REQUEST');
    for (const one of [bundle, envelope]) expect(await ask(o, { method: 'POST', url: '/v1/verify', payload: one })).toBe(200);
    expect(found).toEqual([]);
  });

  test('rate limited: a second write within a limit of one is answered as documented', async () => {
    const statuses: number[] = [];
    for (const o of ops) {
      const method = o.method.toUpperCase();
      if (method !== 'POST') continue;
      for (let i = 0; i < 2; i++) statuses.push(await ask(o, { method, url: o.path, payload: {} }, limited));
    }
    expect(statuses).toContain(429);
    expect(found).toEqual([]);
  });

  test("verdicts over their time budget: 429 answered as documented, retry-after included", async () => {
    // httpVerifyMsPerSecond 1 and a clock that charges each verdict 10 ms: the second verdict within the window is refused.
    const budgeted = await startTestGateway(await Pki.create(), { httpVerifyMsPerSecond: 1 }, undefined, { ...runtime(), verifyBudgetClock: new SteppingClock(10).now });
    try {
      const o = ops.find((x) => x.path === '/v1/verify')!;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push(await ask(o, { method: 'POST', url: '/v1/verify', payload: bodies['POST /v1/verify']![0]! }, budgeted));
      expect(statuses.slice(1)).toEqual([429, 429]);
    } finally {
      await budgeted.stop();
    }
    expect(found).toEqual([]);
  });

  test('a store that fails its reads: every route still answers as documented; an I/O error is 503, an unknown one 500', async () => {
    for (const [code, status] of [['LEVEL_IO_ERROR', 503], [undefined, 500]] as const) {
      faults.failReads = true;
      faults.readErrorCode = code;
      const statuses = new Set<number>();
      try {
        for (const o of ops) if (o.method === 'get') for (const req of requests(o).slice(0, 3)) statuses.add(await ask(o, req));
      } finally {
        faults.failReads = false;
      }
      expect(statuses).toContain(status);
      expect(statuses).not.toContain(status === 503 ? 500 : 503);
    }
    const entry = await t.gw.app.inject({ method: 'GET', url: '/v1/entries/0' });
    expect(entry.statusCode).toBe(200);
    faults.failReads = true;
    faults.readErrorCode = 'LEVEL_IO_ERROR';
    try {
      const failed = await t.gw.app.inject({ method: 'GET', url: '/v1/entries/0' });
      expect([failed.statusCode, failed.json().code]).toEqual([503, 'STORAGE_UNAVAILABLE']);
    } finally {
      faults.failReads = false;
    }
    expect(found).toEqual([]);
  });

  test('a store that fails its writes: registry writes and reads answer as documented', async () => {
    faults.failWrites = true;
    try {
      const newAgency = await pki.agency('env.example');
      const agencies = ops.find((o) => o.path === '/v1/agencies' && o.method === 'post')!;
      expect(await ask(agencies, { method: 'POST', url: '/v1/agencies', payload: { certificate: toBase64(newAgency.cert.bytes) } })).toBe(503);
      for (const o of ops) for (const req of requests(o).slice(0, 3)) await ask(o, req);
    } finally {
      faults.failWrites = false;
    }
    expect(found).toEqual([]);
  });

  test("refusals of HTTP itself, before any route runs (431, 417, 408): every route's entry documents them", async () => {
    // Each operation's own first request, spoilt: headers over node's 16 KiB, an Expect other than 100-continue, or
    // headers that never end (the limited gateway's requestTimeout is 1 s). Raw sockets: inject() skips node's parser.
    const spoilt = (req: Req) => [
      [t, `${req.method} ${req.url} HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`],
      [t, `${req.method} ${req.url} HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`],
      [limited, `${req.method} ${req.url} HTTP/1.1\r\nHost: x\r\n`],
    ] as const;
    const statuses = new Set<number>();
    await Promise.all(ops.flatMap((o) => spoilt(requests(o)[0]!).map(async ([gw, text]) => {
      const req = requests(o)[0]!;
      const s = connect(gw.gw.httpPort, '127.0.0.1', () => s.write(text));
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString('latin1')));
      s.on('error', () => undefined);
      await new Promise<void>((r) => {
        s.once('close', () => r());
        setTimeout(r, 5000);
      });
      s.destroy();
      const [head = '', payload = ''] = out.split('\r\n\r\n');
      const status = Number(head.slice(9, 12));
      statuses.add(status);
      const headers = Object.fromEntries(head.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      found.push(...problems(o, req, { statusCode: status, headers, body: payload, rawPayload: Buffer.from(payload, 'latin1') }));
    })));
    expect([...statuses].sort()).toEqual([408, 417, 431]);
    expect(found).toEqual([]);
  });

  test('a request on an open connection while the gateway shuts down: every route answers as documented', async () => {
    // One connection per operation, each holding a request in progress past the start of the shutdown, then the
    // operation's request on it once the listener is closed (the request in progress is served first). The shutdown
    // starts once the server has all of those requests' headers: one that arrived after it would be refused itself.
    let arrived = 0;
    const count = () => arrived++;
    t.gw.app.server.on('request', count);
    const sockets = await Promise.all(ops.map(async () => {
      const s = connect(t.gw.httpPort, '127.0.0.1');
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString('latin1')));
      s.on('error', () => undefined);
      await new Promise((r) => s.once('connect', r));
      s.write('POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n{"envelope"');
      return { s, text: () => out };
    }));
    while (arrived < ops.length) await new Promise((r) => setTimeout(r, 5));
    t.gw.app.server.off('request', count);
    await new Promise((r) => setImmediate(r));
    const closing = t.gw.close();
    while (t.gw.app.server.listening) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(ops.map(async (o, i) => {
      const { s, text } = sockets[i]!;
      const req = requests(o)[0]!;
      const body = req.payload === undefined ? '' : JSON.stringify(req.payload);
      s.write(`:"AA=="}${req.method} ${req.url} HTTP/1.1\r\nHost: x\r\n${body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`);
      await new Promise<void>((r) => {
        s.once('close', () => r());
        setTimeout(r, 3000);
      });
      s.destroy();
      const answers = text().split(/(?=HTTP\/1\.1 \d{3} )/);
      expect(answers.length, `${req.method} ${req.url}`).toBe(2);
      const [head = '', payload = ''] = answers[1]!.split('\r\n\r\n');
      const status = Number(head.slice(9, 12));
      const headers = Object.fromEntries(head.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      observed.delete(`${req.method} ${o.path}`);
      found.push(...problems(o, req, { statusCode: status, headers, body: payload, rawPayload: Buffer.from(payload, 'latin1') }));
      expect(status, `${req.method} ${req.url}`).toBe(503);
    }));
    await closing;
    expect(found).toEqual([]);
  });
});
