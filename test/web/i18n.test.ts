/**
 * Both languages complete: the zh and en dictionaries have the same keys and the same {placeholders}, no empty
 * text, a meaning for every error code and a name for every check; and the page's human forms (readings, check
 * sentences, entry links) in both languages.
 */
import { describe, expect, test } from 'vitest';
import { ERROR_CODES } from '../../protocol/errors.js';
import { CHECK_NAMES, type Check, type Verdict } from '../../protocol/verify-bundle.js';
import { checkSentence, decimal, formatReading, formatTime, groupHex, verdictHeadline } from '../../web/format.js';
import { DICTIONARIES, en, translate, zh, type Lang, type MessageKey } from '../../web/i18n.js';
import { parseEntryInput } from '../../web/verification.js';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
const LANGS: Lang[] = ['en', 'zh'];

describe('dictionaries', () => {
  test('zh and en have the same keys and the same placeholders, and no empty text', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en) as MessageKey[]) {
      expect([key, placeholders(zh[key])]).toEqual([key, placeholders(en[key])]);
      expect(en[key].trim()).not.toBe('');
      expect(zh[key].trim()).not.toBe('');
    }
  });

  test('the Chinese dictionary is Chinese: every text with words has Han characters (data-only texts aside)', () => {
    const dataOnly = new Set<MessageKey>(['lang.switch', 'reading.sensor', 'type.pm25', 'type.pm10', 'trust.window']);
    const notChinese = (Object.keys(zh) as MessageKey[]).filter((k) => !dataOnly.has(k) && !/\p{Script=Han}/u.test(zh[k]));
    expect(notChinese).toEqual([]);
  });

  test('every error code has a meaning and every check a name, in both languages', () => {
    for (const lang of LANGS) {
      for (const code of ERROR_CODES) expect(DICTIONARIES[lang][`code.${code}`]).toBeTruthy();
      for (const name of CHECK_NAMES) expect(DICTIONARIES[lang][`check.${name}`]).toBeTruthy();
    }
  });

  test('translate fills placeholders and leaves a missing one visible', () => {
    expect(translate('en', 'agency.devices', { count: 3 })).toBe('3 devices');
    expect(translate('zh', 'agency.devices', { count: 3 })).toBe('3 台设备');
    expect(translate('en', 'agency.devices')).toBe('{count} devices');
  });
});

describe('human forms', () => {
  test('sensor readings: exact decimals and readable units', () => {
    expect(decimal(215, -1)).toBe('21.5');
    expect(decimal(-5, -2)).toBe('-0.05');
    expect(decimal(7, 2)).toBe('700');
    expect(formatReading('en', { kind: 'sensor', type: 'temperature', value: 257, scale: -1, unit: 'Cel' })).toBe('Temperature: 25.7 °C');
    expect(formatReading('zh', { kind: 'sensor', type: 'temperature', value: 257, scale: -1, unit: 'Cel' })).toBe('温度：25.7 °C');
    expect(formatReading('en', { kind: 'sensor', type: 'pm25', value: 123, scale: -1, unit: 'ug/m3' })).toBe('PM2.5: 12.3 µg/m³');
    expect(formatReading('en', { kind: 'sensor', type: 'radon', value: 4, scale: 0, unit: 'Bq/m3' })).toBe('radon: 4 Bq/m3');
  });

  test('biometric events: purpose, counter, result and score in words, nothing raw', () => {
    const body = { kind: 'biometric' as const, purpose: 'identity-check-counter-3', result: 'match', score: 930, subjectCommitment: 'ab'.repeat(32) };
    expect(formatReading('en', body)).toBe('identity check at counter 3: match, score 0.93');
    expect(formatReading('zh', body)).toBe('3 号窗口身份核验：比对一致，得分 0.93');
    expect(formatReading('en', { ...body, purpose: 'identity-check', result: 'no-match', score: 412 })).toBe('identity check: no match, score 0.412');
    expect(formatReading('en', { ...body, purpose: 'border-exit', score: 1000 })).toBe('border exit: match, score 1');
  });

  // format.ts formatTime: a safe integer past what Date holds (±8.64e15 ms) is shown as its number, never thrown on.
  test('times: a time no Date can hold is shown as its number, in both languages; the sentences using it too', () => {
    expect(formatTime('en', 8.64e15)).toMatch(/275760/); // the last time Date holds
    expect(formatTime('en', 8.64e15 + 1)).toBe('8640000000000001 ms since 1970 (out of range)');
    expect(formatTime('zh', 9e15)).toBe('1970 年起 9000000000000000 毫秒（超出日期范围）');
    expect(formatTime('en', 9e12 * 1000)).toBe('9000000000000000 ms since 1970 (out of range)');
    const far: Verdict = { valid: false, checks: [], record: { index: 2, treeSize: 9, entryType: 3, receivedAtMs: 9e15, root: 'root.example' } };
    expect(checkSentence('en', { name: 'chain', status: 'pass', message: '' }, far)).toContain('9000000000000000 ms since 1970 (out of range)');
    const reading: Verdict = { valid: false, checks: [], record: { index: 4, treeSize: 9, entryType: 1, receivedAtMs: 1_767_225_600_000, iat: 9e12, body: { kind: 'sensor', type: 'temperature', value: 1, scale: 0, unit: 'Cel' } } };
    expect(checkSentence('zh', { name: 'revocation', status: 'pass', message: '' }, reading)).toContain('1970 年起 9000000000000000 毫秒（超出日期范围）');
  });

  // The page shows times in the verifier's time zone (the CLI prints UTC): a time without its zone is ambiguous once
  // read elsewhere (a screenshot in a report, the CLI's output beside it).
  test('times name their time zone, in both languages', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'Asia/Shanghai';
    try {
      expect(formatTime('en', 0)).toMatch(/^1 Jan 1970, 08:00:00 GMT\+8$/);
      expect(formatTime('zh', 0)).toMatch(/^1970年1月1日 GMT\+8 08:00:00$/);
      process.env.TZ = 'UTC';
      expect(formatTime('en', 1_767_225_600_000)).toMatch(/^1 Jan 2026, 00:00:00 UTC$/);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  test('fingerprints are grouped by four', () => {
    expect(groupHex('0123456789abcdef01')).toBe('0123 4567 89ab cdef 01');
  });

  test('every check has a sentence in both languages for every status, with no placeholder left', () => {
    const verdict: Verdict = {
      valid: false,
      checks: [],
      record: { index: 4, treeSize: 9, entryType: 1, receivedAtMs: 1_767_225_600_000, deviceId: '01ab', agency: 'psb.example', root: 'root.example', seq: 1, iat: 1_767_225_600, body: { kind: 'sensor', type: 'temperature', value: 1, scale: 0, unit: 'Cel' } },
      checkpoint: { origin: 'o', size: 9, root: 'r', signedBy: ['o'] },
    };
    for (const lang of LANGS) {
      for (const name of CHECK_NAMES) {
        for (const c of [{ name, status: 'pass', message: '' }, { name, status: 'fail', code: 'CERT_REVOKED', message: '' }, { name, status: 'skip', message: '' }] as Check[]) {
          for (const ctx of [{ keptSize: 5 }, { revocationLog: { size: 9, count: 2 } }, { revocationsUnchecked: 'offline' as const }]) {
            const s = checkSentence(lang, c, verdict, ctx);
            expect(s).not.toMatch(/[{}]/);
            expect(s.length).toBeGreaterThan(5);
          }
        }
      }
    }
    expect(checkSentence('en', { name: 'signature', status: 'pass', message: '' }, verdict)).toBe('Signed by device 01ab of agency psb.example.');
    // "not revoked" only with the log's list; otherwise what was seen, and why no more
    const revPass = { name: 'revocation', status: 'pass', message: '' } as Check;
    expect(checkSentence('en', revPass, verdict, { revocationLog: { size: 9, count: 2 } })).toMatch(/^Not revoked at that time \(.*\): none of the log's 2 revocation\(s\) up to checkpoint 9 covers it\.$/);
    expect(checkSentence('en', revPass, verdict)).toBe(en['pass.revocationBundleOnly'].replace('{time}', formatTime('en', verdict.record!.iat! * 1000)));
    expect(checkSentence('zh', revPass, verdict, { revocationsUnchecked: 'offline' })).toBe(zh['pass.revocationBundleOffline'].replace('{time}', formatTime('zh', verdict.record!.iat! * 1000)));
    expect(checkSentence('zh', { name: 'revocation', status: 'fail', code: 'CERT_REVOKED', message: '' }, verdict)).toBe(`未通过：${zh['code.CERT_REVOKED']}`);
    expect(checkSentence('en', { name: 'consistency', status: 'pass', message: '' }, verdict, { keptSize: 5 })).toContain('(size 5 to 9)');
    expect(checkSentence('en', { name: 'consistency', status: 'pass', message: '' }, verdict, { keptSize: 9 })).toBe(en['pass.consistencySame'].replace('{size}', '9'));
    expect(verdictHeadline('en', { ...verdict, checks: [{ name: 'revocation', status: 'fail', code: 'CERT_REVOKED', message: '' }] })).toBe('INVALID: Revocation CERT_REVOKED');
  });

  test('registry events are described as such, at the time they were logged, in both languages', () => {
    const registry: Verdict = { valid: true, checks: [], record: { index: 2, treeSize: 9, entryType: 3, receivedAtMs: 1_767_225_600_000, deviceId: '01ab', agency: 'psb.example', root: 'root.example' } };
    for (const lang of LANGS) {
      for (const name of ['signature', 'chain', 'revocation', 'claims'] as const) {
        const s = checkSentence(lang, { name, status: 'pass', message: '' }, registry);
        expect(s).toBe(translate(lang, `pass.registry.${name}`, { time: formatTime(lang, 1_767_225_600_000), root: 'root.example' }));
        expect(s).not.toMatch(/[{}]/);
      }
      expect(checkSentence(lang, { name: 'chain', status: 'pass', message: '' }, registry)).toContain('root.example');
      expect(checkSentence(lang, { name: 'chain', status: 'skip', message: '' }, registry)).toBe(DICTIONARIES[lang]['skip.registry']);
    }
    expect(checkSentence('en', { name: 'signature', status: 'pass', message: '' }, registry)).not.toContain('device 01ab'); // not a reading's wording
  });
});

describe('entry input', () => {
  const origin = 'http://127.0.0.1:8080';
  test('a number, a #/entry link, or an API link of this gateway', () => {
    expect(parseEntryInput(' 42 ', origin)).toEqual({ index: 42 });
    expect(parseEntryInput('#/entry/7', origin)).toEqual({ index: 7 });
    expect(parseEntryInput(`${origin}/#/entry/7`, origin)).toEqual({ index: 7 });
    expect(parseEntryInput(`${origin}/v1/entries/12/bundle`, origin)).toEqual({ index: 12 });
    expect(parseEntryInput(`${origin}/v1/entries/12`, origin)).toEqual({ index: 12 });
  });

  test("another gateway's link is named as such; anything else is not an entry", () => {
    expect(parseEntryInput('http://gw.example:8080/#/entry/3', origin)).toEqual({ otherHost: 'gw.example:8080' });
    for (const bad of ['', 'forty-two', '-1', '1.5', `${origin}/docs`, 'javascript:alert(1)']) expect(parseEntryInput(bad, origin)).toBeNull();
  });
});
