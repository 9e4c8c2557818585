/**
 * Field checks for decoded CBOR claim maps. Every failure names the offending field's path and uses
 * CLAIM_INVALID unless the caller asks for another code (e.g. MALFORMED for envelope structure).
 * Integer claim keys follow the registries cited where each structure is defined.
 */
import { fail, type ErrorCode } from './errors.js';

export type ClaimMap = Map<unknown, unknown>;

export function asMap(value: unknown, path: string, code: ErrorCode = 'CLAIM_INVALID'): ClaimMap {
  if (!(value instanceof Map)) fail(code, `${path || 'value'} must be a CBOR map`, path);
  return value;
}

export function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/**
 * Reject any key outside `allowed` (our signed structures are closed: unknown claims are not ignored). The key is
 * named by claimKeyName, never quoted: `code` BIOMETRIC_RAW_DATA for a biometric event's keys.
 */
export function onlyKeys(m: ClaimMap, allowed: ReadonlyMap<unknown, string> | readonly unknown[], path: string, code: ErrorCode = 'CLAIM_INVALID'): void {
  const ok = allowed instanceof Map ? (k: unknown) => allowed.has(k) : (k: unknown) => (allowed as readonly unknown[]).includes(k);
  for (const k of m.keys()) if (!ok(k)) fail(code, `unknown claim ${claimKeyName(k)}`, join(path, claimKeyName(k)));
}

/**
 * A map key as a path segment: an integer claim key as it is, anything else by its kind. A rejection never quotes the
 * key it rejects (found by the biometric review: a text key such as a subject's name and id number came back in the
 * rejection's message and path, on the device's MQTT topic and in POST /v1/verify's verdict).
 */
export function claimKeyName(k: unknown): string {
  if (typeof k === 'number' && Number.isSafeInteger(k) && Math.abs(k) <= MAX_QUOTED_KEY) return String(k);
  if (typeof k === 'string') return '(text key)';
  if (k instanceof Uint8Array) return '(bytes)';
  return typeof k === 'number' || typeof k === 'bigint' ? '(integer key)' : '(key)';
}
/** Claim keys go down to -65543 (private use, RFC 8392 §9.1); a larger number may be an id number. */
const MAX_QUOTED_KEY = 99_999;

function need(m: ClaimMap, key: unknown, path: string): unknown {
  const v = m.get(key);
  if (v === undefined) fail('CLAIM_INVALID', `missing claim ${path}`, path);
  return v;
}

export interface TextRule {
  pattern?: RegExp;
  max?: number;
  oneOf?: readonly string[];
}

export function checkText(v: unknown, path: string, rule: TextRule = {}): string {
  if (typeof v !== 'string') fail('CLAIM_INVALID', `${path} must be a text string`, path);
  if (v.length === 0 || v.length > (rule.max ?? 256)) fail('CLAIM_INVALID', `${path} must be 1..${rule.max ?? 256} characters`, path);
  if (rule.pattern && !rule.pattern.test(v)) fail('CLAIM_INVALID', `${path} has an invalid format`, path);
  if (rule.oneOf && !rule.oneOf.includes(v)) fail('CLAIM_INVALID', `${path} must be one of ${rule.oneOf.join(', ')}`, path);
  return v;
}

export function reqText(m: ClaimMap, key: unknown, path: string, rule: TextRule = {}): string {
  return checkText(need(m, key, path), path, rule);
}

/** Integer within [min, max] (safe integers only: times, sequence numbers, fixed-point values). */
export function checkInt(v: unknown, path: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail('CLAIM_INVALID', `${path} must be an integer`, path);
  if (v < min || v > max) fail('CLAIM_INVALID', `${path} must be in ${min}..${max}`, path);
  return v;
}

export function reqInt(m: ClaimMap, key: unknown, path: string, min?: number, max?: number): number {
  return checkInt(need(m, key, path), path, min, max);
}

/** Unsigned time in seconds since the Unix epoch (RFC 8392 §2 NumericDate, integers only). */
export function reqTime(m: ClaimMap, key: unknown, path: string): number {
  return checkInt(need(m, key, path), path, 0);
}

export function checkBytes(v: unknown, path: string, min: number, max = min): Uint8Array {
  if (!(v instanceof Uint8Array)) fail('CLAIM_INVALID', `${path} must be a byte string`, path);
  if (v.length < min || v.length > max) {
    fail('CLAIM_INVALID', min === max ? `${path} must be ${min} bytes` : `${path} must be ${min}..${max} bytes`, path);
  }
  return v;
}

export function reqBytes(m: ClaimMap, key: unknown, path: string, min: number, max = min): Uint8Array {
  return checkBytes(need(m, key, path), path, min, max);
}

/** Short identifiers (agency/root ids, DESIGN.md): `[a-z0-9][a-z0-9.-]{0,62}`. */
export const ENTITY_ID = /^[a-z0-9][a-z0-9.-]{0,62}$/;
/** Names such as reading types and device kinds: lowercase words joined by dashes. */
export const TOKEN_NAME = /^[a-z][a-z0-9-]{0,31}$/;
