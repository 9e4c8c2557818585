/**
 * Human forms of what the page shows: a reading ("Temperature: 25.7 °C", "identity check at counter 3: match,
 * score 0.93"), times, fingerprints, and the plain sentence of each verification check. Pure (no DOM).
 */
import type { Check, Verdict } from '../protocol/verify-bundle.js';
import { isErrorCode } from '../protocol/errors.js';
import { decimalText } from '../protocol/reading.js';
import { codeKey, dataKey, translate, type Lang, type MessageKey } from './i18n.js';

export type SensorBody = { kind: 'sensor'; type: string; value: number; scale: number; unit: string };
export type BiometricBody = { kind: 'biometric'; purpose: string; result: string; score: number; subjectCommitment?: unknown };
export type ReadingBody = SensorBody | BiometricBody;

/** UCUM codes (what devices send) to what people read. */
const UNITS: Record<string, string> = { Cel: '°C', '%': '%', 'ug/m3': 'µg/m³', L: 'L', 'L/min': 'L/min', Pa: 'Pa', hPa: 'hPa' };

/** value × 10^scale as exact decimal text (protocol's formatter; the page and the CLI print the same digits). */
export const decimal = decimalText;

/** A reading in words. Biometric purposes ending in `-counter-N` name the service counter. */
export function formatReading(lang: Lang, body: ReadingBody): string {
  const t = (k: MessageKey, p?: Record<string, string | number>) => translate(lang, k, p);
  if (body.kind === 'sensor') {
    const typeKey = dataKey('type', body.type);
    return t('reading.sensor', { type: typeKey ? t(typeKey) : body.type, value: decimal(body.value, body.scale), unit: UNITS[body.unit] ?? body.unit });
  }
  const at = /^(.+)-counter-(\d+)$/.exec(body.purpose);
  const purposeCode = at ? at[1]! : body.purpose;
  const purposeKey = dataKey('purpose', purposeCode);
  const purpose = purposeKey ? t(purposeKey) : purposeCode.replace(/-/g, ' ');
  const result = body.result === 'match' ? t('bio.match') : body.result === 'no-match' ? t('bio.no-match') : body.result;
  const score = decimal(body.score, -3).replace(/0+$/, '').replace(/\.$/, '');
  return at ? t('reading.biometricAt', { purpose, counter: at[2]!, result, score }) : t('reading.biometric', { purpose, result, score });
}

/**
 * Local date and time, seconds precision, with the time zone, in the page's language. A time no Date can hold (beyond ±8.64e15 ms,
 * ECMA-262 §21.4.1.1), which a bundle or trust file may carry as a safe integer, is shown as its number: formatting
 * it would throw and leave the page without a verdict. Never throws.
 */
export function formatTime(lang: Lang, ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return translate(lang, 'time.unknown');
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return translate(lang, 'time.outOfRange', { ms: String(ms) });
  // timeStyle 'long' names the time zone (the verifier's own; the CLI prints UTC): a time read elsewhere is not ambiguous.
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'medium', timeStyle: 'long' }).format(d);
}

/** What an error code means, in the page's language; a code the page does not know (from a server) as it is. */
export function codeMeaning(lang: Lang, code: string): string {
  return isErrorCode(code) ? translate(lang, codeKey(code)) : code;
}

/** Hex in groups of four, as fingerprints are read aloud over the phone. */
export function groupHex(hex: string): string {
  return hex.match(/.{1,4}/g)?.join(' ') ?? '';
}

export function shortId(id: string): string {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;
}

export interface SentenceContext {
  /** Who signed the checkpoint, as the page shows the key (name and key ID). */
  gatewayLabel?: string;
  /** The kept checkpoint's size when consistency was checked or could not be. */
  keptSize?: number;
  /** A kept checkpoint exists, but no consistency proof could be had offline. */
  consistencyOffline?: boolean;
  /** The kept checkpoint is of another log (its origin): not applied to this record. */
  keptOtherLog?: string;
  /** A kept checkpoint exists, but the gateway could not give the consistency proof now (a 503, say). */
  consistencyUnavailable?: boolean;
  /** The log's revocation list the revocation check held (complete up to this checkpoint size, if it passed). */
  revocationLog?: { size: number; count: number };
  /** No revocation list could be had: the check saw only the bundle's own revocations. */
  revocationsUnchecked?: 'offline' | 'unavailable' | 'refused' | 'otherLog' | 'untrusted' | 'stale';
}

/** The plain sentence of one check, in the page's language, built from the verdict's data (not its English text). */
export function checkSentence(lang: Lang, c: Check, v: Verdict, ctx: SentenceContext = {}): string {
  const t = (k: MessageKey, p?: Record<string, string | number>) => translate(lang, k, p);
  const r = v.record;
  if (c.status === 'fail') return t('fail.prefix', { meaning: c.code ? t(codeKey(c.code)) : c.message });
  if (c.status === 'skip') {
    if (c.name === 'consistency') {
      if (ctx.keptOtherLog !== undefined) return t('skip.consistency.otherLog', { origin: ctx.keptOtherLog });
      if (ctx.consistencyOffline) return t('skip.consistency.offline');
      return ctx.consistencyUnavailable ? t('skip.consistency.unavailable') : t('skip.consistency.none');
    }
    return r && r.entryType !== 1 ? t('skip.registry') : t('skip.generic');
  }
  const unknown = t('record.unknown');
  const log = ctx.revocationLog;
  if (r && r.entryType !== 1 && (c.name === 'signature' || c.name === 'chain' || c.name === 'revocation' || c.name === 'claims')) {
    // A registry event is checked at the time it was logged (protocol/verify-registry-event.ts).
    const time = formatTime(lang, r.receivedAtMs);
    if (c.name === 'revocation' && log) return t('pass.registry.revocationComplete', { time, size: log.size, count: log.count });
    return t(`pass.registry.${c.name}`, { time, root: r.root ?? unknown });
  }
  const time = r?.iat !== undefined ? formatTime(lang, r.iat * 1000) : unknown;
  switch (c.name) {
    case 'signature':
      return t('pass.signature', { device: r?.deviceId ?? unknown, agency: r?.agency ?? unknown });
    case 'chain':
      return t('pass.chain', { time, agency: r?.agency ?? unknown, root: r?.root ?? unknown });
    case 'revocation':
      // Only a list proven by a checkpoint lets the page say "not revoked"; else it says what it saw.
      if (log) return t('pass.revocation', { time, size: log.size, count: log.count });
      return t(ctx.revocationsUnchecked === 'offline' ? 'pass.revocationBundleOffline' : 'pass.revocationBundleOnly', { time });
    case 'claims': {
      const body = r?.body as ReadingBody | undefined;
      const code = !body ? undefined : body.kind === 'sensor' ? body.type : 'biometric';
      const key = code === undefined ? undefined : dataKey('type', code);
      return t('pass.claims', { type: key ? t(key) : (code ?? unknown) });
    }
    case 'inclusion':
      return t('pass.inclusion', { index: r?.index ?? unknown, size: r?.treeSize ?? unknown });
    case 'checkpoint':
      return t('pass.checkpoint', { size: v.checkpoint?.size ?? unknown, gateway: ctx.gatewayLabel ?? v.checkpoint?.signedBy.join(', ') ?? unknown });
    case 'consistency': {
      const to = v.checkpoint?.size ?? 0;
      const from = ctx.keptSize ?? to;
      if (from === to) return t('pass.consistencySame', { size: to });
      return t('pass.consistency', { from: Math.min(from, to), to: Math.max(from, to) });
    }
  }
}

/**
 * The verdict's headline. A valid verdict with a check left grey (consistency, with no checkpoint kept or its proof
 * not to be had) names it: "every check passed" said so over a check shown as not checked (found by the web review).
 */
export function verdictHeadline(lang: Lang, v: Verdict): string {
  if (v.valid) {
    const skipped = v.checks.filter((c) => c.status === 'skip');
    if (skipped.length === 0) return translate(lang, 'verdict.valid');
    return translate(lang, 'verdict.validUnchecked', { checks: skipped.map((c) => translate(lang, `check.${c.name}`)).join(lang === 'zh' ? '、' : ', ') });
  }
  const failed = v.checks.filter((c) => c.status === 'fail');
  if (failed.length === 0) return translate(lang, 'verdict.notProven');
  return translate(lang, 'verdict.invalid', { checks: failed.map((c) => `${translate(lang, `check.${c.name}`)} ${c.code ?? ''}`.trim()).join(lang === 'zh' ? '；' : '; ') });
}
