/**
 * The page and its verification worker share one chunk (web/vite.config.ts verifyWorkerEntry): the build
 * (test/global-setup.ts runs `vite build web`) writes the worker as a small entry that imports the chunk of protocol/
 * and the verification code the page itself loads. Built by Vite's worker pipeline, the worker's script was a copy of
 * all of it, 54,395 bytes gzipped fetched again at the first verification. That the worker so built runs (and runs
 * offline, from the service worker's cache) is shown in Chromium by test/web/verify-worker.test.ts and
 * revocations-in-worker.test.ts: their page's thread stays free only if the worker ran.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';

const DIST = new URL('../../dist/web/', import.meta.url);
const assets = readdirSync(new URL('assets/', DIST));
const read = (name: string) => readFileSync(new URL(name, DIST), 'utf8');

describe('the verification worker built with the page', () => {
  test("the worker's script imports the chunk the page preloads, and holds little else", () => {
    const worker = assets.filter((f) => /^verify-worker-.*\.js$/.test(f));
    const shared = assets.filter((f) => /^verification-.*\.js$/.test(f));
    expect([worker.length, shared.length]).toEqual([1, 1]);
    const workerCode = read(`assets/${worker[0]}`);
    // Its imports are the shared chunk alone, which the page's HTML preloads and its entry imports.
    expect([...workerCode.matchAll(/from\s*["']([^"']+)["']/g)].map((m) => m[1])).toEqual([`./${shared[0]}`]);
    expect(read('index.html')).toContain(`href="./assets/${shared[0]}"`);
    const page = assets.filter((f) => /^index-.*\.js$/.test(f));
    expect(page).toHaveLength(1);
    expect(read(`assets/${page[0]}`)).toMatch(new RegExp(`from\\s*["']\\./${shared[0]!.replace(/[.]/g, '\\.')}["']`));
    // The worker's own code: its message handling, a few hundred bytes (the shared chunk: ~55 kB gzipped).
    expect(gzipSync(workerCode).length).toBeLessThan(2_000);
    // The service worker keeps both for offline use.
    expect(read('sw.js')).toContain(`"assets/${shared[0]}"`);
    expect(read('sw.js')).toContain(`"assets/${worker[0]}"`);
  });
});
