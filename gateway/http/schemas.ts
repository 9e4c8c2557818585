/** Shared TypeBox schemas of the HTTP API (validation, serialization, types and OpenAPI from one source). */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { REVOCATION_REASONS } from '../../protocol/revocation.js';
import { BIOMETRIC_RESULTS } from '../../protocol/biometric.js';
import { ApiError, codesWithStatus } from './error-registry.js';

/**
 * The error body answered with `status`: its `code` one of those the registry (error-registry.ts) answers with that
 * status, so the OpenAPI description says which codes each status carries.
 */
export function ErrorBody(status: number) {
  const codes = codesWithStatus(status);
  return Type.Object(
    {
      code: Type.String({ enum: codes, description: 'stable error code (README "Error codes")' }),
      message: Type.String(),
      path: Type.Optional(Type.String({ description: 'the offending field' })),
    },
    {
      description: `error: ${codes.join(', ')}`,
      // Told to wait, a client is told how long (app.ts sets it on every 429; the rate limiter sets its own).
      ...(status === 429 ? { headers: { 'retry-after': { type: 'integer', description: 'seconds to wait before asking again' } } } : {}),
    },
  );
}

/** The error answers of a route, by status (each with its codes: ErrorBody). */
export function errors(...statuses: number[]): Record<number, ReturnType<typeof ErrorBody>> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody(s)]));
}

/**
 * The error statuses every route can answer, whatever it does, added to each documented route's schema by app.ts
 * (onRoute), so that no route can leave them out of its OpenAPI entry: 400 (a request HTTP/1.1 refuses, such as one
 * without Host; and any parameter that does not validate), 500 (INTERNAL: a fault of the gateway, such as a read its
 * store fails), 503 (the gateway shutting down: UNAVAILABLE; its store unavailable: STORAGE_UNAVAILABLE), and the
 * refusals of HTTP itself, answered BAD_REQUEST before any route runs but on that route's URL all the same (app.ts):
 * 408 (not arrived whole in time), 417 (an Expect other than 100-continue), 431 (headers over 16 KiB). A route
 * that takes a body also answers 413 (over the body limit) and 415 (a body that is not JSON); one with path
 * parameters 414 (a parameter over the router's maxParamLength, 100 characters, refused before the route runs).
 */
export function documentErrors(schema: { body?: unknown; params?: unknown; hide?: boolean; response?: Record<string, unknown> } | undefined): void {
  if (!schema || schema.hide) return;
  const response = (schema.response ??= {});
  for (const status of [400, 408, 417, 431, 500, 503, ...(schema.body ? [413, 415] : []), ...(schema.params ? [414] : [])]) response[status] ??= ErrorBody(status);
}

/**
 * The OpenAPI document as client generators read it best, the same schemas said another way (app.ts, swagger's
 * transformObject):
 * - `format: int64` on every integer that names no width. Every integer of the API is within 0 .. 2^53 - 1, but a
 *   generator for a typed language (Java, Go, C#) makes an int32 of an integer without a format, which a log index
 *   or a time in ms overflows.
 * - A choice of strings (TypeBox's Union of Literals: an anyOf of one-value enums) as one `enum`, which generators
 *   make an enum type of (of the anyOf, some make a wrapper class per value).
 * A copy: the document shares objects with the routes' own schemas (module constants, shared by every app built in
 * the process), which validate and serialize and must stay as they are (their Ajv knows no int64 format).
 */
export function documentForGenerators<T>(original: T): T {
  const doc = JSON.parse(JSON.stringify(original)) as T;
  const walk = (x: unknown): void => {
    if (!x || typeof x !== 'object') return;
    if (Array.isArray(x)) return x.forEach(walk);
    const s = x as Record<string, unknown>;
    if (s.type === 'integer' && s.format === undefined) s.format = 'int64';
    const anyOf = s.anyOf as Record<string, unknown>[] | undefined;
    if (anyOf && anyOf.length > 0 && anyOf.every((b) => b.type === 'string' && Array.isArray(b.enum) && b.enum.length === 1 && Object.keys(b).length === 2)) {
      delete s.anyOf;
      Object.assign(s, { type: 'string', enum: anyOf.map((b) => (b.enum as unknown[])[0]) });
    }
    Object.values(s).forEach(walk);
  };
  walk(doc);
  return doc;
}

/**
 * For a route's JSON body schema, a preValidation hook that refuses BAD_REQUEST a body whose values are not of the
 * schema's JSON types, before Ajv's coercion (app.ts `coerceTypes`, meant for path and query strings) takes them:
 * it took `true` for the string "true", `null` for "" and `["x"]` for "x", so a certificate sent in an array was
 * registered. Null when the route has no TypeBox body schema.
 */
export function jsonBodyCheck(schema: { body?: unknown } | undefined): ((req: { body: unknown }) => Promise<void>) | null {
  const body = schema?.body as TSchema | undefined;
  if (!body || typeof body !== 'object') return null;
  return async (req) => {
    if (req.body === undefined || Value.Check(body, req.body)) return;
    const first = Value.Errors(body, req.body).First();
    throw new ApiError('BAD_REQUEST', `body${first?.path ?? ''}: ${first?.message ?? 'does not match the schema'}`);
  };
}

/**
 * Ajv keyword of SafeUint: the value is a safe integer. Needed besides minimum/maximum because Ajv's type coercion
 * turns query and path strings such as "Infinity", "-Infinity" or "1e400" into infinite numbers, accepts them as
 * integers and skips minimum/maximum for non-finite numbers. An OpenAPI `x-` extension, so /docs stays valid. (Path
 * and query strings now have to be decimal digits first, decimalIntegerCheck below; the keyword stays as the
 * schema's own guarantee.)
 */
export const SAFE_INTEGER_KEYWORD = 'x-safe-integer';

/** Registers SAFE_INTEGER_KEYWORD on the app's Ajv (app.ts passes it in Fastify's `ajv.plugins`). */
export function safeIntegerKeyword(ajv: { addKeyword(def: { keyword: string; schemaType: 'boolean'; errors: false; validate: (schema: boolean, data: unknown) => boolean }): unknown }): void {
  ajv.addKeyword({ keyword: SAFE_INTEGER_KEYWORD, schemaType: 'boolean', errors: false, validate: (on, data) => !on || Number.isSafeInteger(data) });
}

/**
 * The one schema of every integer path and query parameter: a non-negative safe integer (0 ..
 * Number.MAX_SAFE_INTEGER), narrowed per use. Larger numbers (2^64, 1e300) lose precision in JavaScript and would
 * wrap in the ledger's u64 keys, so they are rejected with 400 BAD_REQUEST before any lookup; so are infinities.
 */
export function SafeUint(opts: { minimum?: number; maximum?: number; description?: string } = {}) {
  const { minimum = 0, maximum = Number.MAX_SAFE_INTEGER, ...rest } = opts;
  return Type.Integer({ ...rest, minimum: Math.max(0, minimum), maximum: Math.min(Number.MAX_SAFE_INTEGER, maximum), [SAFE_INTEGER_KEYWORD]: true });
}

/**
 * Decimal digits: the only spelling of an integer path or query parameter. Fastify's Ajv runs with `coerceTypes`
 * (app.ts), which turns the parameter's raw string into a number with Number() before any keyword sees it, so on its
 * own the schema also took " " and "\t" for 0, "0x1", "1e0", "+1" and "1.0" for 1 and "0b11" for 3. At most 16
 * digits (leading zeros allowed, as in the cursors: safeUintOf); the schema's maximum then bounds the value.
 */
const DECIMAL_DIGITS = /^[0-9]{1,16}$/;

/** The parts of a route's schema whose values arrive as strings, by the name Fastify's validation errors use. */
const STRING_PARTS = { params: 'params', querystring: 'query' } as const;

/**
 * For a route's schema, a preValidation hook that refuses BAD_REQUEST every integer path or query parameter
 * (`type: 'integer'` at the top level of `params` or `querystring`: SafeUint) whose raw value is not DECIMAL_DIGITS,
 * before Ajv coerces it; null when the route has no such parameter. A repeated query parameter is checked value by
 * value. JSON bodies are not touched: they carry real numbers and are not coerced. app.ts adds it to every route
 * (onRoute), so no route can forget it; the schema itself, and the OpenAPI description made from it, are unchanged.
 */
export function decimalIntegerCheck(schema: { params?: unknown; querystring?: unknown } | undefined): ((req: { params: unknown; query: unknown }) => Promise<void>) | null {
  const fields: { part: keyof typeof STRING_PARTS; name: string }[] = [];
  for (const part of Object.keys(STRING_PARTS) as (keyof typeof STRING_PARTS)[]) {
    const props = (schema?.[part] as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties ?? {};
    for (const [name, s] of Object.entries(props)) if (s?.type === 'integer') fields.push({ part, name });
  }
  if (fields.length === 0) return null;
  return async (req) => {
    for (const { part, name } of fields) {
      const raw = (req[STRING_PARTS[part]] as Record<string, unknown> | undefined)?.[name];
      for (const v of [raw].flat()) {
        if (typeof v === 'string' && !DECIMAL_DIGITS.test(v)) throw new ApiError('BAD_REQUEST', `${part}/${name} must be a decimal integer (digits 0-9 only)`);
      }
    }
  };
}

/**
 * A preValidation check that refuses query parameters the route's schema does not name (BAD_REQUEST, naming the
 * parameter and the ones the route takes). Ignoring them would answer a misspelt filter (`?fromMS=` for `?fromMs=`)
 * as if no filter had been asked for, which a reader can take for the filtered answer. app.ts adds it to every /v1
 * route (onRoute). A hook rather than `additionalProperties: false`: Ajv's error would not name the parameter.
 */
export function knownQueryCheck(schema: { querystring?: unknown } | undefined): (req: { query: unknown }) => Promise<void> {
  const names = Object.keys((schema?.querystring as { properties?: Record<string, unknown> } | undefined)?.properties ?? {});
  const known = new Set(names);
  const takes = names.length === 0 ? 'this route takes no query parameters' : `this route takes ${names.join(', ')}`;
  return async (req) => {
    for (const name of Object.keys((req.query as Record<string, unknown> | undefined) ?? {})) {
      if (!known.has(name)) throw new ApiError('BAD_REQUEST', `unknown query parameter ${JSON.stringify(name.slice(0, 64))}: ${takes}`);
    }
  };
}

/** The non-negative safe integer in a cursor's decimal digits, or undefined (the caller answers BAD_REQUEST). */
export function safeUintOf(digits: string): number | undefined {
  if (!DECIMAL_DIGITS.test(digits)) return undefined;
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : undefined;
}

// contentEncoding base64: @fastify/swagger documents it as OpenAPI 3.0's `format: byte`, of which generators for typed
// languages make a byte array, decoded for the caller (openapi-typescript keeps the base64 string; Ajv takes it as an
// annotation; the pattern is what validates).
export const BASE64_STRING = { pattern: '^[A-Za-z0-9+/]*={0,2}$', maxLength: 65536, contentEncoding: 'base64' } as const;
export const Base64 = Type.String({ ...BASE64_STRING, description: 'standard base64' });
export const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$' });
export const DeviceIdParam = Type.String({ pattern: '^[0-9a-f]{34}$', description: 'device id (34 hex chars)' });

/**
 * A closed set of strings as one plain `enum` (typed as their union): a generated client gets an enum type to switch
 * on, where `Type.String()` gave it `string`. Not a Union of Literals: fast-json-stringify would try an anyOf per
 * value written (a listing writes 1,000 entries).
 */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}
export const RevocationReason = StringEnum(REVOCATION_REASONS);

/** A reading's body as the API shows it (GET /v1/entries/{index}, a verdict's record): the commitment in hex. */
export const ReadingBody = Type.Union([
  Type.Object({ kind: Type.Literal('sensor'), type: Type.String(), value: Type.Integer(), scale: Type.Integer(), unit: Type.String() }),
  Type.Object({ kind: Type.Literal('biometric'), purpose: Type.String(), result: StringEnum(BIOMETRIC_RESULTS), score: Type.Integer(), subjectCommitment: Type.String() }),
]);

export const DeviceStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('revoked'),
  Type.Literal('expired'),
  Type.Literal('not-yet-valid'),
  Type.Literal('agency-revoked'),
  Type.Literal('untrusted'),
]);

export const Profile = Type.Object({
  kind: Type.String(),
  readingTypes: Type.Array(Type.String()),
  firmware: Type.String({ description: 'expected firmware measurement, hex' }),
});

export const DeviceView = Type.Object({
  deviceId: Type.String(),
  agency: Type.String(),
  status: DeviceStatus,
  alg: Type.String(),
  kid: Type.String(),
  certRef: Type.String(),
  notBefore: Type.Integer(),
  notAfter: Type.Integer(),
  profile: Profile,
  registeredAt: Type.Integer({ description: 'log index of the registration entry' }),
  revokedFrom: Type.Optional(Type.Integer()),
  revocationReason: Type.Optional(RevocationReason),
  certificate: Base64,
});
export type DeviceViewT = Static<typeof DeviceView>;

export const AgencyView = Type.Object({
  id: Type.String(),
  kid: Type.String(),
  certRef: Type.String(),
  issuer: Type.String(),
  notBefore: Type.Integer(),
  notAfter: Type.Integer(),
  registeredAt: Type.Integer(),
  revoked: Type.Boolean({ description: 'its revocation is in effect now; `revokedFrom` without it: scheduled' }),
  revokedFrom: Type.Optional(Type.Integer()),
  devices: Type.Integer(),
  certificate: Base64,
});
export type AgencyViewT = Static<typeof AgencyView>;

/** The errors of a read: not found (400, 500 and 503 every route has: documentErrors). */
export const readErrors = errors(404);
/** The errors of a signed write (POST): its object refused (403, 409, 422, 404 for what it names), rate limited. */
export const writeErrors = errors(403, 404, 409, 413, 422, 429);
