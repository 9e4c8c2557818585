/**
 * What the page keeps in this browser (localStorage) and fetches from its gateway. The trust file a verifier
 * loads and the checkpoint it keeps stay here across visits; the server's anchors are saved too, so that the
 * page still verifies when it is opened offline (the service worker keeps the page's own files).
 */
import { OriginProofError } from '../protocol/errors.js';
import { parseTrustText, type TrustMaterial } from '../protocol/trust.js';
import type { Lang } from './i18n.js';
import { noAnswerOf, publishedSkew, readKeptCheckpoint, type KeptCheckpoint, type NoAnswer, type ProofFetcher, type RevocationLogFetcher } from './verification.js';
import { fromBase64 } from '../protocol/bytes.js';
import { collectRevocationListing, revocationListingPath, type RevocationListingQuery } from '../protocol/revocation-listing.js';

const K = { lang: 'originproof.lang', trustFile: 'originproof.trustFile', serverTrust: 'originproof.serverTrust', kept: 'originproof.keptCheckpoint' };

/**
 * `maxClockSkewSeconds`: the gateway's clock skew allowance, which bundles of this gateway are verified with: the
 * one its trust material publishes (GET /v1/trust), or for the verifier's own trust file the file's if it has one
 * (never the server's: with their own file a verifier trusts nothing the gateway says); none: the library default (300 s).
 */
export type TrustState =
  | { source: 'loading' }
  | { source: 'server'; text: string; material: TrustMaterial; savedAtMs?: number; maxClockSkewSeconds?: number }
  | { source: 'file'; name: string; text: string; material: TrustMaterial; maxClockSkewSeconds?: number }
  | { source: 'none'; reason?: string };

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

export async function serverTrust(): Promise<TrustState> {
  let reason: string;
  try {
    const res = await fetch(api('v1/trust'), { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const text = await res.text();
    const material = parseTrustText(text);
    put(K.serverTrust, JSON.stringify({ text, savedAtMs: Date.now() }));
    return { source: 'server', text, material, ...withSkew(publishedSkew(text)) };
  } catch (err) {
    reason = err instanceof OriginProofError ? err.code : (err as Error).message;
  }
  const saved = get(K.serverTrust);
  if (saved) {
    try {
      const { text, savedAtMs } = JSON.parse(saved) as { text: string; savedAtMs: number };
      return { source: 'server', text, material: parseTrustText(text), savedAtMs, ...withSkew(publishedSkew(text)) };
    } catch {
      put(K.serverTrust, null);
    }
  }
  return { source: 'none', reason };
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

/** A bundle from this gateway, or why not. */
export async function fetchBundle(index: number): Promise<{ bytes: Uint8Array } | { error: string }> {
  try {
    const res = await fetch(api(`v1/entries/${index}/bundle?format=cbor`), { cache: 'no-store' });
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
      return { error: `${body.code ?? `HTTP ${res.status}`}${body.message ? `: ${body.message}` : ''}` };
    }
    return { bytes: new Uint8Array(await res.arrayBuffer()) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export const fetchConsistencyProof: ProofFetcher = async (from, to) => {
  let res: Response;
  try {
    res = await fetch(api(`v1/proofs/consistency?from=${from}&to=${to}`), { cache: 'no-store' });
  } catch {
    return 'offline';
  }
  if (!res.ok) return noAnswerOf(res.status);
  try {
    const body = (await res.json()) as { proof: string[] };
    return body.proof.map((p) => fromBase64(p));
  } catch {
    return 'refused';
  }
};

/** A page of GET /v1/revocations could not be had: no network, or the gateway said no. */
class PageUnavailable extends Error {
  constructor(readonly why: NoAnswer) {
    super(why);
  }
}

async function revocationPage(q: RevocationListingQuery): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(api(revocationListingPath(q)), { cache: 'no-store' });
  } catch {
    throw new PageUnavailable('offline');
  }
  if (!res.ok) throw new PageUnavailable(noAnswerOf(res.status));
  return res.json();
}

/** The log's whole revocation list (every page) with the checkpoint committing to it; checked by the verifier, not trusted. */
export const fetchRevocationLog: RevocationLogFetcher = async () => {
  try {
    const { checkpoint, revocations } = await collectRevocationListing(revocationPage);
    return checkpoint === null ? 'refused' : { checkpoint, revocations };
  } catch (err) {
    return err instanceof PageUnavailable ? err.why : 'refused';
  }
};

/**
 * JSON from this gateway (Explore view), with the answer's headers (a paged list's `x-next-after`). The page is
 * served by the gateway it asks (CSP connect-src 'self'), so every header is readable: no CORS exposure needed.
 */
export async function getJsonWithHeaders<T>(path: string): Promise<{ body: T; headers: Headers }> {
  const res = await fetch(api(path), { cache: 'no-store' });
  const body = (await res.json().catch(() => ({}))) as T & { code?: string; message?: string };
  if (!res.ok) throw new Error(`${body.code ?? `HTTP ${res.status}`}${body.message ? `: ${body.message}` : ''}`);
  return { body, headers: res.headers };
}

/** JSON from this gateway (Explore view). */
export async function getJson<T>(path: string): Promise<T> {
  return (await getJsonWithHeaders<T>(path)).body;
}

export async function getText(path: string): Promise<string> {
  const res = await fetch(api(path), { cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.text();
}
