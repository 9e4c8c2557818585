/*
 * Offline use of the verifier page: the page's own files (index and content-hashed assets) are kept in a cache
 * when the worker installs and refreshed whenever the network answers; without a network they come from the
 * cache. Nothing else is cached: API answers always come from the gateway (or fail while offline).
 */
const CACHE = 'originproof-page-v1';
const scope = new URL('./', self.registration.scope);
const isPageFile = (url) =>
  url.origin === scope.origin && (url.pathname === scope.pathname || url.pathname === `${scope.pathname}index.html` || url.pathname.startsWith(`${scope.pathname}assets/`));

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const res = await fetch(scope, { cache: 'no-store' });
      // Only the page itself is kept: an error answer (a gateway restarting for an upgrade, say) fails the install,
      // which the next visit tries again. Kept, it was the page opened offline (found by the web review).
      if (!res.ok) throw new Error(`the page answered ${res.status}`);
      const html = await res.clone().text();
      await cache.put(scope, res);
      const assets = [...html.matchAll(/(?:src|href)="(\.?\/?assets\/[^"]+)"/g)].map((m) => new URL(m[1], scope).href);
      await cache.addAll(assets);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || !isPageFile(url)) return;
  const key = url.pathname === `${scope.pathname}index.html` ? scope.href : url.origin + url.pathname;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const res = await fetch(event.request);
        if (res.ok) await cache.put(key, res.clone());
        return res;
      } catch (err) {
        const hit = await cache.match(key);
        if (hit) return hit;
        throw err;
      }
    })(),
  );
});
