/**
 * The verifier web page (web/, built by Vite into dist/web/) served as static files at `/`. The page verifies
 * bundles in the browser with protocol/, so nothing it shows depends on trusting this server's answers.
 * The folder is found relative to this module (sources: <repo>/gateway/http, built: <repo>/dist/gateway/http),
 * never the working directory, so `npm start` serves it from anywhere.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { HttpApp } from './app.js';

/** <repo>/dist/web, from either the sources or dist/. */
export function defaultWebRoot(): string {
  const up = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return basename(up) === 'dist' ? join(up, 'web') : join(up, 'dist', 'web');
}

/** Same origin only: the page fetches bundles and lists from this gateway and runs no inline code. */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

export async function registerWebPage(app: HttpApp, root: string): Promise<void> {
  if (!existsSync(join(root, 'index.html'))) {
    // Not built (e.g. `tsc` alone): say so at `/` instead of a bare 404.
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.status(404).send({ code: 'NOT_FOUND', message: `the verifier web page is not built (${root}): run npm run build` }),
    );
    return;
  }
  const absRoot = resolve(root);
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false, // one route per built file: unknown paths still reach the JSON 404 handler
    index: 'index.html',
    decorateReply: false,
    cacheControl: false,
    setHeaders(res, path) {
      res.setHeader('x-content-type-options', 'nosniff');
      // Judged on the path inside the web root: a root that itself lies under a folder named `assets` must not
      // make index.html or sw.js immutable for a year.
      if (relative(absRoot, path).split(sep)[0] === 'assets') {
        res.setHeader('cache-control', 'public, max-age=31536000, immutable'); // content-hashed names
      } else {
        res.setHeader('cache-control', 'no-cache');
      }
      if (path.endsWith('.html')) res.setHeader('content-security-policy', PAGE_CSP);
    },
  });
}
