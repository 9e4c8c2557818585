/*
 * Offline use of the verifier page: the page's own files (index and content-hashed assets) are kept in a cache
 * when the worker installs; pages ask the network first and, without one, get them from the cache. Nothing else is
 * cached: API answers always come from the gateway (or fail while offline).
 *
 * The build (web/vite.config.ts, serviceWorkerScript) writes this file into dist/web/sw.js with BUILD below filled
 * in: a version that changes with every build and the list of the build's assets. So a new build is a new worker
 * (a byte-different sw.js), which installs that build's files under its own cache name and, on activate, deletes
 * the caches of older builds; the cache holds only this build's files and never grows between builds. Before, one
 * cache name served every build and each fetched asset was added to it, so every release's files stayed for good.
 */
const BUILD = { version: 'unbuilt', assets: [] }; // filled in by the build
const CACHE_PREFIX = 'originproof-page-';
const CACHE = `${CACHE_PREFIX}${BUILD.version}`;
const scope = new URL('./', self.registration.scope);
const assetUrls = new Set(BUILD.assets.map((a) => new URL(a, scope).href));

/** The cache key of a request for one of this build's files (the page is kept under the scope's URL), else undefined. */
function keyOf(url) {
  if (url.origin !== scope.origin) return undefined;
  if (url.pathname === scope.pathname || url.pathname === `${scope.pathname}index.html`) return scope.href;
  const href = url.origin + url.pathname;
  return assetUrls.has(href) ? href : undefined;
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const res = await fetch(scope, { cache: 'no-store' });
      // Only the page itself is kept: an error answer (a gateway restarting for an upgrade, say) fails the install,
      // which the next visit tries again. Kept, it was the page opened offline (found by the web review).
      if (!res.ok) throw new Error(`the page answered ${res.status}`);
      await cache.put(scope, res);
      await cache.addAll([...assetUrls]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      // Only this page's caches (other caches of the origin are not ours); 'originproof-page-v1' is the one name
      // every build used before builds had their own.
      for (const name of await caches.keys()) if (name.startsWith(CACHE_PREFIX) && name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  if (event.request.method !== 'GET') return;
  const key = keyOf(new URL(event.request.url));
  if (!key) return;
  // The network first (a newer build's page, once the gateway serves one); offline, this build's kept copy. Nothing is
  // added here: the cache holds what the install put in it, this build's files.
  event.respondWith(
    (async () => {
      try {
        return await fetch(event.request);
      } catch (err) {
        const hit = await (await caches.open(CACHE)).match(key);
        if (hit) return hit;
        throw err;
      }
    })(),
  );
});
