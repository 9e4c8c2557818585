/**
 * The error codes firmware reads in firmware-specs/ (reading.cddl's `error-code` and SPEC §8's table) are exactly
 * protocol/errors.ts's ERROR_CODES: a code the gateway sends must be one a firmware engineer can look up.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ERROR_CODES } from '../../protocol/errors.js';

const specDir = join(import.meta.dirname, '..', '..', 'firmware-specs');
const sorted = (codes: Iterable<string>) => [...codes].sort();

describe('firmware-specs name every error code the gateway sends', () => {
  test("reading.cddl's error-code is ERROR_CODES", () => {
    const cddl = readFileSync(join(specDir, 'reading.cddl'), 'utf8');
    // The rule runs from `error-code =` to the next blank line; its choices are quoted strings.
    const rule = /^error-code\s*=([\s\S]*?)\n\s*\n/m.exec(cddl);
    expect(rule).not.toBeNull();
    const codes = [...rule![1]!.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1]!);
    expect(new Set(codes).size).toBe(codes.length);
    expect(sorted(codes)).toEqual(sorted(ERROR_CODES));
  });

  test("SPEC.md §8's table has a row for each of ERROR_CODES", () => {
    const spec = readFileSync(join(specDir, 'SPEC.md'), 'utf8');
    const section = /^## 8\. Rejections$([\s\S]*?)^## /m.exec(spec);
    expect(section).not.toBeNull();
    const codes = [...section![1]!.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!);
    expect(sorted(codes)).toEqual(sorted(ERROR_CODES));
  });
});
