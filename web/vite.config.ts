/**
 * The verifier page's build: `vite build web` (run by `npm run build`, hence by `npm install`) writes dist/web/,
 * which the gateway serves at `/`. Relative asset URLs, so the page also works behind a path prefix.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 400,
  },
});
