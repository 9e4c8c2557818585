/**
 * README's commands are `npx originproof ...`: npx runs package.json's `bin` file itself (a link to it in its cache,
 * made once per project path), so that file must be executable as the checkout has it, whatever built dist/. It
 * was dist/cli/main.js, which tsc writes 0644: npm's link made it executable only when it first linked it, so after
 * a fresh clone at a path npx had linked before, or dist/ removed and built again, every README command failed with
 * `sh: 1: originproof: Permission denied` (found by the README walk).
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const root = process.cwd();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; files: string[] };

describe("package.json's bin", () => {
  const bin = join(root, pkg.bin.originproof!);

  test('is a file git keeps executable, outside the built dist/, and published with the package', () => {
    expect(pkg.bin.originproof!.startsWith('dist/')).toBe(false);
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    expect(pkg.files.some((f) => pkg.bin.originproof!.startsWith(`${f}/`))).toBe(true);
  });

  test('runs the CLI when executed directly, as npx does', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(bin, ['--version'], { timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)));
    });
    expect(out.trim()).toBe(pkg.version);
  });
});
