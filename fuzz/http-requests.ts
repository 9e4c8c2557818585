/**
 * Hostile HTTP requests for every route an app serves (gateway/http/app.ts `routesOf`), as fast-check arbitraries:
 * path tricks in parameters and around the route (`..`, `%2e%2e`, encoded NULs, bad escapes, very long segments,
 * unicode), wrong types and extra keys in queries, bad JSON, JSON of the wrong shape, deep nesting, prototype keys,
 * base64 fields carrying hostile CBOR (mutants of real certificates, revocations and envelopes), bodies past the body
 * limit, and wrong or missing content types. Shared by the test suite and `npm run fuzz`.
 */
import fc from 'fast-check';
import type { HttpApp, RouteSummary } from '../gateway/http/app.js';
import { ALL_ERROR_CODES } from '../gateway/http/error-registry.js';
import { judgeHttp, type Judgement } from './oracle.js';
import { assemble } from './cbor-ast.js';
import { anyCbor } from './cbor-values.js';
import { byteMutation, cborMutant, envelopeMutant } from './envelope-mutations.js';
import { COSE_SIGN1_TAG } from '../protocol/cose-sign1.js';

export interface FuzzRequest {
  kind: string;
  /** The route it was made for, as `METHOD url`. */
  route: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

export interface HttpFuzzContext {
  /** Plausible values by parameter or field name (a registered device id, an index), so cases also get past validation. */
  known: Record<string, string[]>;
  /** Valid signed objects by base64 body field (certificate, revocation, envelope, bundle), with their signer if any. */
  signed: Record<string, { bytes: Uint8Array; sign?: (m: Uint8Array) => Uint8Array }>;
  bodyLimit: number;
}

const TRICKS = [
  '..', '.', '%2e%2e', '%2E%2E%2F', '..%2f..%2f', '%2e%2e%5c', '..\\..\\', '..;', '%252e%252e', '%c0%ae%c0%ae', '%ef%bc%8f',
  '%00', 'a%00b', '%2500', '%', '%zz', '%u002e', '%ff%fe', '~', '//', '%2f', '?', '#', '*', '-1', '0', '1e400', '18446744073709551616',
  '9007199254740993', '0x10', '%201', '1.5', 'NaN', 'Infinity', 'null', 'undefined', 'true', '__proto__', 'constructor', 'prototype', '[]',
  '%7B%7D', 'a'.repeat(64), '01' + 'ab'.repeat(16), '%F0%9F%98%80', '%E2%80%AE', '%CC%81',
];

/** One path segment or query value: a trick, a known value, a number, any text (URI-encoded) or a very long run. */
function segment(known: readonly string[]): fc.Arbitrary<string> {
  const arbs: fc.Arbitrary<string>[] = [
    fc.constantFrom(...TRICKS),
    fc.integer().map(String),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    fc.string({ unit: 'binary', maxLength: 20 }).map(encodeURIComponent),
    fc.integer({ min: 100, max: 70_000 }).map((n) => 'a'.repeat(n)),
  ];
  if (known.length > 0) arbs.push(fc.constantFrom(...known));
  return fc.oneof(...arbs);
}

function propertiesOf(schema: unknown): string[] {
  const s = schema as { properties?: Record<string, unknown>; anyOf?: unknown[]; oneOf?: unknown[] } | undefined;
  if (!s) return [];
  return [...new Set([...Object.keys(s.properties ?? {}), ...(s.anyOf ?? []).flatMap(propertiesOf), ...(s.oneOf ?? []).flatMap(propertiesOf)])];
}

const toB64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** Values for a base64 field: mutants of the real signed object, CBOR garbage, bad base64, over-long text. */
function base64Value(ctx: HttpFuzzContext, field: string): fc.Arbitrary<unknown> {
  const real = ctx.signed[field];
  const arbs: fc.Arbitrary<unknown>[] = [
    anyCbor.map((a) => toB64(assemble(a))),
    fc.uint8Array({ maxLength: 300 }).map(toB64),
    fc.integer({ min: 33, max: 20_000 }).map((n) => toB64(Uint8Array.from({ length: 2 * n + 1 }, (_, i) => (i < 2 * n ? (i % 2 === 0 ? 0xa1 : 0x00) : 0)))), // maps nested n deep
    fc.constantFrom('', '=', '====', 'A', 'AB=', 'A===', '@@@@', 'AA AA', 'AA\nAA', '-_-_', 'data:;base64,AA==', 'A'.repeat(65_537), '\u0000'),
  ];
  if (real) arbs.push(signedMutant(ctx, field));
  return fc.oneof(...arbs);
}

/** A mutant of the real signed object of `field` (envelope-level or byte-level), or the object itself, in base64. */
function signedMutant(ctx: HttpFuzzContext, field: string): fc.Arbitrary<string> {
  const real = ctx.signed[field]!;
  const limits = { maxBytes: 4096, ceiling: 40_000 };
  const sign = real.sign;
  // A COSE_Sign1 (certificate, revocation, envelope) starts with tag 18 (0xd2); anything else is plain CBOR.
  const mutants = real.bytes[0] === 0xc0 + COSE_SIGN1_TAG ? envelopeMutant(real.bytes, { ...limits, ...(sign ? { sign } : {}) }) : cborMutant(real.bytes, limits);
  return fc.oneof(
    { weight: 6, arbitrary: mutants.map((m) => toB64(m.bytes)) },
    { weight: 3, arbitrary: byteMutation(real.bytes, limits).map((m) => toB64(m.bytes)) },
    { weight: 1, arbitrary: fc.constant(toB64(real.bytes)) },
  );
}

function jsonBody(ctx: HttpFuzzContext, fields: string[]): fc.Arbitrary<{ kind: string; text: string }> {
  const names = fields.length > 0 ? fields : ['certificate'];
  const field = fc.constantFrom(...names);
  const valueOf = new Map(names.map((f) => [f, base64Value(ctx, f)]));
  // Exactly the right key with a mutant of a real signed object (or the object itself): past the JSON schema, so the
  // case reaches the checks of the signed object (CBOR, claims, signature, chain, role). Without it about 1 case in
  // 500 got that far (an extra key, the wrong content type or a non-mutant value stopped the rest at the schema).
  const realFields = names.filter((f) => ctx.signed[f]);
  const signedMutants = realFields.length === 0 ? [] : [
    { weight: 6, arbitrary: fc.constantFrom(...realFields).chain((f) => signedMutant(ctx, f).map((v) => ({ kind: 'signed-mutant', text: JSON.stringify({ [f]: v }) }))) },
  ];
  const objects = fc.oneof(
    // the right keys with hostile base64 (and sometimes an extra key)
    fc.tuple(field.chain((f) => valueOf.get(f)!.map((v) => [f, v] as const)), fc.option(fc.tuple(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })), { nil: undefined })).map(([[f, v], extra]) => ({
      kind: 'base64-field',
      text: JSON.stringify({ [f]: v, ...(extra ? { [extra[0]]: extra[1] } : {}) }),
    })),
    // the right keys with values of every JSON type
    fc.tuple(field, fc.jsonValue({ maxDepth: 3 })).map(([f, v]) => ({ kind: 'wrong-type', text: JSON.stringify({ [f]: v }) })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => ({ kind: 'any-json', text: JSON.stringify(v) ?? 'null' })),
  );
  return fc.oneof(
    ...signedMutants,
    { weight: 10, arbitrary: objects },
    { weight: 2, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'bad-json', text })) },
    { weight: 2, arbitrary: objects.chain((o) => fc.nat(Math.max(0, o.text.length - 1)).map((n) => ({ kind: 'truncated-json', text: o.text.slice(0, n) }))) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom('[', '{"a":'), fc.integer({ min: 1000, max: 200_000 })).map(([open, n]) => ({
        kind: 'deep-json',
        text: open.repeat(n) + '1' + (open === '[' ? ']' : '}').repeat(n),
      })),
    },
    { weight: 1, arbitrary: fc.constantFrom('{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '{"certificate":"AA==","__proto__":{"x":1}}').map((text) => ({ kind: 'proto-json', text })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 * 1024 }).map((extra) => ({ kind: 'huge-body', text: `{"certificate":"${'A'.repeat(ctx.bodyLimit + extra)}"}` })) },
  );
}

const CONTENT_TYPES = [
  'application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1',
  'application/json; charset=utf-16', 'text/plain', 'application/cbor', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
  'application/octet-stream', 'application/jsonx', 'application/json, text/plain', '*/*', 'json', '',
];
const OTHER_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

/** A hostile request for `route`, or a trick played on its path as a whole. */
export function requestFor(route: RouteSummary, ctx: HttpFuzzContext): fc.Arbitrary<FuzzRequest> {
  const names = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  const pathArb = fc.tuple(...names.map((n) => segment(ctx.known[n] ?? []))).map((values) => {
    let i = 0;
    return route.url.replace(/:([A-Za-z0-9_]+)/g, () => values[i++]!).replace(/\*$/, '');
  });
  const queryNames = propertiesOf(route.schema?.querystring);
  const query = fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...(queryNames.length > 0 ? queryNames : ['q'])), fc.constantFrom('__proto__[x]', 'constructor[prototype][x]', 'a[]', '')), fc.oneof(segment(ctx.known['query'] ?? []), fc.constant(''))), { maxLength: 5 })
    .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));
  const pathTrick = fc.constantFrom('', '/', '/..', '/../..', '/%2e%2e', '/%2e%2e/%2e%2e/package.json', '/..%2f..%2fpackage.json', '/./', '//', '%00', '/%00', '.json', '?', '#x', '/static/../../../package.json');
  const fields = propertiesOf(route.schema?.body);
  const post = route.method === 'POST';
  const body = fc.oneof({ weight: post ? 1 : 8, arbitrary: fc.constant(undefined) }, { weight: post ? 8 : 1, arbitrary: jsonBody(ctx, fields) });
  const method = fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...OTHER_METHODS) });
  return fc.record({ method, path: pathArb, trick: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: pathTrick }), query, body, contentType: fc.constantFrom(...CONTENT_TYPES), plain: fc.nat(9).map((n) => n > 0) }).map((r) => {
    const headers: Record<string, string> = {};
    // A case made to reach the signed object's checks goes as it should 9 times in 10: the route's method, its path
    // without a trick or a query, JSON (any of these stops it before the signed object is looked at).
    const plain = r.body?.kind === 'signed-mutant' && r.plain;
    const contentType = plain ? 'application/json' : r.contentType;
    if (r.body !== undefined && contentType !== '') headers['content-type'] = contentType;
    return {
      kind: r.body?.kind ?? (r.trick ? 'path-trick' : 'params'),
      route: `${route.method} ${route.url}`,
      method: plain ? route.method : r.method,
      url: plain ? r.path : `${r.path}${r.trick ?? ''}${r.query}`,
      headers,
      ...(r.body !== undefined ? { payload: r.body.text } : {}),
    };
  });
}

/** Hostile requests spread over all routes; routes that take a body get more (there is more to get wrong). */
export function anyRequest(routes: readonly RouteSummary[], ctx: HttpFuzzContext): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(...routes.map((r) => ({ weight: r.schema?.body ? 10 : 1, arbitrary: requestFor(r, ctx) })));
}

/** Send one hostile request through the real app (inject) and judge its answer; a finding names the request. */
export async function probeHttp(app: HttpApp, req: FuzzRequest): Promise<Judgement> {
  const res = await app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, ...(req.payload !== undefined ? { payload: req.payload } : {}) });
  const j = judgeHttp(req.method, res.statusCode, res.body, ALL_ERROR_CODES);
  return j.ok ? j : { ok: false, problem: `${req.kind} ${req.method} ${req.url.slice(0, 200)}: ${j.problem}` };
}
