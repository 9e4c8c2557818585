/**
 * What the page keeps in this browser (localStorage) and fetches from its gateway. The trust file a verifier
 * loads and the checkpoint it keeps stay here across visits; the server's anchors are saved too, so that the
 * page still verifies when it is opened offline (the service worker keeps the page's own files).
 */
import { OriginProofError } from '../protocol/errors.js';
import { parseTrustText, type TrustMaterial } from '../protocol/trust.js';
import type { Lang } from './i18n.js';
import { MAX_BUNDLE_BYTES, publishedSkew, readKeptCheckpoint, type KeptCheckpoint } from './verification.js';
import { printable } from '../protocol/printable.js';
import { errorOf, gatewayGet, jsonOf, textOf, type GatewayAnswer, type GatewayGet } from './gateway-answers.js';

export { GATEWAY_TIMEOUT_MS } from './gateway-answers.js';

const K = { lang: 'originproof.lang', trustFile: 'originproof.trustFile', serverTrust: 'originproof.serverTrust', kept: 'originproof.keptCheckpoint' };

/**
 * `maxClockSkewSeconds`: the gateway's clock skew allowance, which bundles of this gateway are verified with: the
 * one its trust material publishes (GET /v1/trust), or for the verifier's own trust file the file's if it has one
 * (never the server's: with their own file a verifier trusts nothing the gateway says); none: the library default (300 s).
 */
export type TrustState =
  | { source: 'loading' }
  /** `savedAtMs`: the saved copy, used because the server's own could not be had now (`problem` says why). */
  | { source: 'server'; text: string; material: TrustMaterial; savedAtMs?: number; problem?: ServerTrustProblem; maxClockSkewSeconds?: number }
  | { source: 'file'; name: string; text: string; material: TrustMaterial; maxClockSkewSeconds?: number }
  | { source: 'none'; problem?: ServerTrustProblem };

/**
 * Why the server's trust anchors could not be used: no answer, or an error answer ('unreachable', with the reason);
 * or the server answered its trust file and that file is not valid ('invalid', with the parser's error code and
 * message). Told apart because they call for different things: try again later, or ask the operator (a gateway
 * publishing a broken trust file was reported "could not be fetched", as if it were down).
 */
export type ServerTrustProblem = { kind: 'unreachable'; reason: string } | { kind: 'invalid'; code: string; message: string };

const withSkew = (skew: number | undefined) => (skew !== undefined ? { maxClockSkewSeconds: skew } : {});

function fileTrust(name: string, text: string): TrustState {
  return { source: 'file', name, text, material: parseTrustText(text), ...withSkew(publishedSkew(text)) };
}

function get(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function put(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage disabled: the page still works for this visit
  }
}

export const api = (path: string): URL => new URL(path, document.baseURI);

/** GET `path` of this gateway from the page's thread (gateway-answers.ts gatewayGet: time and size limits). */
export const pageGet: GatewayGet = (path, max) => gatewayGet(api(path), max);

export function savedLang(): Lang {
  const s = get(K.lang);
  if (s === 'en' || s === 'zh') return s;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export const saveLang = (lang: Lang): void => put(K.lang, lang);

/** The verifier's own trust file if one was loaded, else the server's (fetched, or the saved copy when offline). */
export async function loadTrust(): Promise<TrustState> {
  const own = get(K.trustFile);
  if (own) {
    try {
      const { name, text } = JSON.parse(own) as { name: string; text: string };
      return fileTrust(name, text);
    } catch {
      put(K.trustFile, null);
    }
  }
  return serverTrust();
}

/** The server's trust anchors as it answers them now (kept as the saved copy), or why they cannot be used. */
async function currentServerTrust(): Promise<Extract<TrustState, { source: 'server' }> | ServerTrustProblem> {
  let res: GatewayAnswer;
  try {
    res = await pageGet('v1/trust');
  } catch (err) {
    return { kind: 'unreachable', reason: (err as Error).message };
  }
  // An error answer names the gateway's code and message (errorOf), not only its status.
  if (!res.ok) return { kind: 'unreachable', reason: `HTTP ${res.status}: ${errorOf(res)}` };
  const text = textOf(res);
  let material: TrustMaterial;
  try {
    material = parseTrustText(text);
  } catch (err) {
    return { kind: 'invalid', code: err instanceof OriginProofError ? err.code : 'MALFORMED', message: (err as Error).message };
  }
  put(K.serverTrust, JSON.stringify({ text, savedAtMs: Date.now() }));
  return { source: 'server', text, material, ...withSkew(publishedSkew(text)) };
}

/** The server's anchors; when they cannot be used now, the saved copy if there is one; else none, with why. */
export async function serverTrust(): Promise<TrustState> {
  const got = await currentServerTrust();
  if (!('kind' in got)) return got;
  const saved = get(K.serverTrust);
  if (saved) {
    try {
      const { text, savedAtMs } = JSON.parse(saved) as { text: string; savedAtMs: number };
      return { source: 'server', text, material: parseTrustText(text), savedAtMs, problem: got, ...withSkew(publishedSkew(text)) };
    } catch {
      put(K.serverTrust, null);
    }
  }
  return { source: 'none', problem: got };
}

/** Parse and keep the verifier's own trust file (throws OriginProofError if it cannot be used). */
export function useTrustFile(name: string, text: string): TrustState {
  const trust = fileTrust(name, text);
  put(K.trustFile, JSON.stringify({ name, text }));
  return trust;
}

export function forgetTrustFile(): void {
  put(K.trustFile, null);
}

export function loadKept(): KeptCheckpoint | null {
  const s = get(K.kept);
  if (!s) return null;
  try {
    const { note, keptAtMs } = JSON.parse(s) as { note: string; keptAtMs: number };
    return readKeptCheckpoint(note, keptAtMs);
  } catch {
    put(K.kept, null);
    return null;
  }
}

export function saveKept(kept: KeptCheckpoint | null): void {
  put(K.kept, kept ? JSON.stringify({ note: kept.note, keptAtMs: kept.keptAtMs }) : null);
}

/** A bundle from this gateway (at most MAX_BUNDLE_BYTES), or why not. */
export async function fetchBundle(index: number): Promise<{ bytes: Uint8Array } | { error: string }> {
  try {
    const res = await pageGet(`v1/entries/${index}/bundle?format=cbor`, MAX_BUNDLE_BYTES);
    if (!res.ok) return { error: errorOf(res) };
    return { bytes: res.bytes };
  } catch (err) {
    return { error: printable((err as Error).message) };
  }
}

/**
 * JSON from this gateway (Explore view), with the answer's headers (a paged list's `x-next-after`). The page is
 * served by the gateway it asks (CSP connect-src 'self'), so every header is readable: no CORS exposure needed.
 */
export async function getJsonWithHeaders<T>(path: string): Promise<{ body: T; headers: Headers }> {
  const res = await pageGet(path);
  if (!res.ok) throw new Error(errorOf(res));
  return { body: (jsonOf(res) ?? {}) as T, headers: res.headers };
}

/** JSON from this gateway (Explore view). */
export async function getJson<T>(path: string): Promise<T> {
  return (await getJsonWithHeaders<T>(path)).body;
}

export async function getText(path: string): Promise<string> {
  const res = await pageGet(path);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return textOf(res);
}
