/**
 * The service worker's cache across builds (web/sw.js as the build writes it, web/vite.config.ts serviceWorkerScript):
 * each build's worker keeps exactly that build's page and assets under a cache of its own, deletes older builds'
 * caches when it activates, and adds nothing while it serves, so the cache never grows from release to release.
 * Found by the review: one cache name ('originproof-page-v1') for every build and every fetched asset added to it,
 * so each release's content-hashed files stayed in the browser for good.
 *
 * The worker script runs in a node:vm context with a minimal in-memory CacheStorage (caches.open/keys/delete, a
 * Cache's put/addAll/match/keys): that is the browser's API, not ours; the gateway's answers are a map of files.
 * test/web/service-worker-install.test.ts runs the built worker in Chromium.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { serviceWorkerScript } from '../../web/vite.config.js';

const SCOPE = 'https://gw.example/';
const TEMPLATE = readFileSync(new URL('../../web/sw.js', import.meta.url), 'utf8');
const DIST = new URL('../../dist/web/', import.meta.url);

/** The browser's CacheStorage, in memory: cache name → request URL → the answer's body. */
class FakeCaches {
  readonly stores = new Map<string, Map<string, string>>();
  constructor(private readonly fetchFile: (url: string) => Promise<Response>) {}
  async open(name: string) {
    const store = this.stores.get(name) ?? new Map<string, string>();
    this.stores.set(name, store);
    const urlOf = (req: string | URL | Request) => (typeof req === 'string' ? req : req instanceof URL ? req.href : req.url);
    return {
      put: async (req: string | URL | Request, res: Response) => void store.set(urlOf(req), await res.text()),
      addAll: async (reqs: string[]) => {
        for (const r of reqs) {
          const res = await this.fetchFile(r);
          if (!res.ok) throw new TypeError(`addAll: ${r} answered ${res.status}`);
          store.set(r, await res.text());
        }
      },
      match: async (req: string | URL | Request) => (store.has(urlOf(req)) ? new Response(store.get(urlOf(req))) : undefined),
      keys: async () => [...store.keys()],
    };
  }
  async keys() {
    return [...this.stores.keys()];
  }
  async delete(name: string) {
    return this.stores.delete(name);
  }
  /** Every cache's URLs, by name. */
  contents(): Record<string, string[]> {
    return Object.fromEntries([...this.stores].map(([name, s]) => [name, [...s.keys()].sort()]));
  }
}

/** What the gateway serves for one build: its page (naming its assets, as Vite's index.html does) and the assets. */
function build(assets: string[]): { files: Map<string, string>; sw: string } {
  const html = `<!doctype html><script type="module" crossorigin src="./${assets[0]}"></script><link rel="stylesheet" crossorigin href="./${assets[1]}">`;
  const files = new Map<string, string>([[SCOPE, html], ...assets.map((a): [string, string] => [new URL(a, SCOPE).href, `/* ${a} */`])]);
  return { files, sw: serviceWorkerScript(TEMPLATE, html, assets) };
}

type Listener = (event: unknown) => void;

/** One browser profile: its caches, the network (the gateway's current files, or none when offline), its workers. */
class Browser {
  network: Map<string, string> | null = null;
  readonly caches = new FakeCaches((url) => this.fetch(url));

  async fetch(req: string | URL | Request): Promise<Response> {
    const url = typeof req === 'string' ? req : req instanceof URL ? req.href : req.url;
    if (!this.network) throw new TypeError('Failed to fetch');
    const u = new URL(url);
    const body = this.network.get(u.pathname === '/index.html' ? SCOPE : u.origin + u.pathname);
    return body === undefined ? new Response('{"code":"NOT_FOUND"}', { status: 404 }) : new Response(body);
  }

  /** Runs `script` as a worker of SCOPE: install then activate, as the browser does for a new sw.js (skipWaiting). */
  async installWorker(script: string): Promise<Worker> {
    const listeners = new Map<string, Listener>();
    const self = {
      registration: { scope: SCOPE },
      addEventListener: (type: string, fn: Listener) => listeners.set(type, fn),
      skipWaiting: async () => undefined,
      clients: { claim: async () => undefined },
    };
    runInNewContext(script, { self, caches: this.caches, fetch: (r: string | URL | Request) => this.fetch(r), URL, Response, Set, Error, TypeError });
    const lifecycle = async (type: string) => {
      let done: Promise<unknown> = Promise.resolve();
      listeners.get(type)!({ waitUntil: (p: Promise<unknown>) => (done = p) });
      await done;
    };
    await lifecycle('install');
    await lifecycle('activate');
    return new Worker(listeners.get('fetch')!);
  }
}

class Worker {
  constructor(private readonly onFetch: Listener) {}
  /** A GET of `url` through the worker: its answer's body, or the network's when it does not answer it. */
  async get(url: string, browser: Browser): Promise<string> {
    let answer: Promise<Response> | undefined;
    this.onFetch({ request: { url, method: 'GET' }, respondWith: (p: Promise<Response>) => (answer = p) });
    return (await (answer ?? browser.fetch(url))).text();
  }
}

const urls = (files: Map<string, string>) => [...files.keys()].sort();

describe('service worker cache across builds', () => {
  test("the built sw.js is web/sw.js with the build's version and assets", () => {
    const assets = readdirSync(new URL('assets/', DIST)).map((f) => `assets/${f}`);
    const built = readFileSync(new URL('sw.js', DIST), 'utf8');
    expect(built).toBe(serviceWorkerScript(TEMPLATE, readFileSync(new URL('index.html', DIST), 'utf8'), assets));
    expect(built).toMatch(/const BUILD = \{"version":"[0-9a-f]{16}","assets":\["assets\//);
  });

  test("each build's worker keeps that build's files only; the next build's deletes the older caches; serving adds nothing", async () => {
    const browser = new Browser();
    // What a worker of before this change left: the one cache every build used, with an older release's asset in it.
    const old = await browser.caches.open('originproof-page-v1');
    await old.put(`${SCOPE}assets/index-OLD.js`, new Response('old'));
    // Another cache of the origin, not the page's: left alone.
    await browser.caches.open('someone-else');

    const a = build(['assets/index-AAAA.js', 'assets/index-AAAA.css', 'assets/verify-worker-AAAA.js']);
    browser.network = a.files;
    const workerA = await browser.installWorker(a.sw);
    const nameA = (await browser.caches.keys()).find((n) => n.startsWith('originproof-page-'))!;
    expect(browser.caches.contents()).toEqual({ [nameA]: urls(a.files), 'someone-else': [] });

    // Serving: pages and assets asked for, among them another build's asset (a newer page while this worker is
    // still the active one) and a query string: the cache does not grow.
    const b = build(['assets/index-BBBB.js', 'assets/index-BBBB.css', 'assets/verify-worker-BBBB.js']);
    browser.network = new Map([...a.files, ...b.files].filter(([k]) => k !== SCOPE).concat([[SCOPE, b.files.get(SCOPE)!]]));
    for (const u of [SCOPE, `${SCOPE}index.html`, ...b.files.keys(), ...a.files.keys(), `${SCOPE}assets/index-AAAA.js?x=1`, `${SCOPE}v1/trust`]) await workerA.get(u, browser);
    expect(browser.caches.contents()).toEqual({ [nameA]: urls(a.files), 'someone-else': [] });

    // Offline, build A's page and assets still come from its cache.
    browser.network = null;
    expect(await workerA.get(`${SCOPE}index.html`, browser)).toBe(a.files.get(SCOPE));
    expect(await workerA.get(`${SCOPE}assets/verify-worker-AAAA.js`, browser)).toBe('/* assets/verify-worker-AAAA.js */');

    // Build B deployed: its worker (a different sw.js) installs B's files and deletes A's cache on activate.
    browser.network = b.files;
    expect(b.sw).not.toBe(a.sw);
    await browser.installWorker(b.sw);
    const nameB = (await browser.caches.keys()).find((n) => n.startsWith('originproof-page-'))!;
    expect(nameB).not.toBe(nameA);
    expect(browser.caches.contents()).toEqual({ [nameB]: urls(b.files), 'someone-else': [] });
  });
});
