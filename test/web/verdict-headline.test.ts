/**
 * The verdict's headline says no more than the checks do (found by the web review): a valid verdict with a check
 * left grey (consistency, with no checkpoint kept, or its proof not to be had) named "every check passed" over a row
 * saying "Not checked". It now names what was not checked, in both languages; with every check passed it is as before.
 */
import { describe, expect, test } from 'vitest';
import { CHECK_NAMES, type Check, type Verdict } from '../../protocol/verify-bundle.js';
import { verdictHeadline } from '../../web/format.js';
import { en, zh } from '../../web/i18n.js';

const verdict = (skipped: string[]): Verdict => ({
  valid: true,
  checks: CHECK_NAMES.map((name): Check => (skipped.includes(name) ? { name, status: 'skip', message: 'no earlier checkpoint given' } : { name, status: 'pass', message: '' })),
});

describe('the verdict headline', () => {
  test('valid with consistency not checked: not "every check passed"; the check left unchecked is named', () => {
    const v = verdict(['consistency']);
    expect(verdictHeadline('en', v)).not.toBe(en['verdict.valid']);
    expect(verdictHeadline('en', v)).toBe(`VALID: every check made passed; not checked: ${en['check.consistency']}`);
    expect(verdictHeadline('zh', v)).toBe(`有效：已进行的核验全部通过；未核验：${zh['check.consistency']}`);
  });

  test('valid with every check passed: "every check passed", as before', () => {
    expect(verdictHeadline('en', verdict([]))).toBe(en['verdict.valid']);
    expect(verdictHeadline('zh', verdict([]))).toBe(zh['verdict.valid']);
  });
});
