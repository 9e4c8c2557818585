/**
 * The verifier page's build: `vite build web` (run by `npm run build`, hence by `npm install`) writes dist/web/,
 * which the gateway serves at `/`. Relative asset URLs, so the page also works behind a path prefix. The service
 * worker (web/sw.js) is written into dist/web/sw.js with this build's version and assets (serviceWorkerScript).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const SW_TEMPLATE = fileURLToPath(new URL('./sw.js', import.meta.url));
const BUILD_LINE = "const BUILD = { version: 'unbuilt', assets: [] }; // filled in by the build";

/**
 * web/sw.js (`template`) for one build: its BUILD line names the build's assets (paths relative to the page, e.g.
 * `assets/index-3f2a.js`) and a version hashed from them and the page's HTML, so any change to the page makes a new
 * worker, which deletes the older builds' caches when it activates.
 */
export function serviceWorkerScript(template: string, indexHtml: string, assets: readonly string[]): string {
  if (!template.includes(BUILD_LINE)) throw new Error(`web/sw.js has no line ${BUILD_LINE}`);
  const sorted = [...assets].sort();
  const version = createHash('sha256').update(indexHtml).update('\0').update(sorted.join('\n')).digest('hex').slice(0, 16);
  return template.replace(BUILD_LINE, `const BUILD = ${JSON.stringify({ version, assets: sorted })};`);
}

function serviceWorker(): Plugin {
  return {
    name: 'originproof-service-worker',
    apply: 'build',
    writeBundle(options, bundle) {
      const page = bundle['index.html'];
      if (!page || page.type !== 'asset') throw new Error('the build wrote no index.html');
      const assets = Object.keys(bundle).filter((f) => f.startsWith('assets/'));
      writeFileSync(join(options.dir!, 'sw.js'), serviceWorkerScript(readFileSync(SW_TEMPLATE, 'utf8'), String(page.source), assets));
    },
  };
}

/** The id a page module imports for the URL of the verification worker's script (web/verify-in-worker.ts). */
const VERIFY_WORKER_URL_ID = 'virtual:verify-worker-url';
const VERIFY_WORKER = fileURLToPath(new URL('./verify-worker.ts', import.meta.url));
const VERIFICATION = fileURLToPath(new URL('./verification.ts', import.meta.url));

/**
 * The verification worker (web/verify-worker.ts) built as a second entry of the page's own build, not by Vite's worker
 * pipeline, a build of its own that copied protocol/ and the page's verification code into the worker's script
 * (54,395 bytes gzipped, the same code the page had loaded already): the modules both use go into one chunk
 * (assets/verification-*.js), which the page loads and the worker, a module worker, imports from the same URL.
 * `virtual:verify-worker-url` is the worker entry's URL (served by Vite's dev server: the module itself).
 */
function verifyWorkerEntry(): Plugin {
  let ref: string | undefined;
  let building = false;
  return {
    name: 'originproof-verify-worker-entry',
    configResolved(config) {
      building = config.command === 'build';
    },
    buildStart() {
      if (building) ref = this.emitFile({ type: 'chunk', id: VERIFY_WORKER, name: 'verify-worker' });
    },
    resolveId(id) {
      return id === VERIFY_WORKER_URL_ID ? `\0${VERIFY_WORKER_URL_ID}` : null;
    },
    load(id) {
      if (id !== `\0${VERIFY_WORKER_URL_ID}`) return null;
      return ref ? `export default import.meta.ROLLUP_FILE_URL_${ref};` : `export default new URL('./verify-worker.ts', document.baseURI).href;`;
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  plugins: [verifyWorkerEntry(), serviceWorker()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 400,
    rolldownOptions: {
      output: {
        // The chunk the page and its verification worker share (verifyWorkerEntry) named for what it holds.
        chunkFileNames: (chunk) => (chunk.moduleIds.includes(VERIFICATION) ? 'assets/verification-[hash].js' : 'assets/[name]-[hash].js'),
      },
    },
  },
});
