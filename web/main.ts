/**
 * The verifier page: state, actions and the top-level layout. Verification runs here, in the browser, with
 * protocol/verify-bundle.ts bundled by Vite; the server only supplies bytes, which are checked, and trust
 * anchors, which are shown with their fingerprints and can be replaced by the verifier's own trust file.
 */
import { OriginProofError } from '../protocol/errors.js';
import type { App, State } from './app.js';
import { fileBytes, h } from './dom.js';
import { devicePageOf, emptyExplore, exploreView, loadExplore } from './explore-view.js';
import { translate, type Lang } from './i18n.js';
import {
  fetchBundle, forgetTrustFile, loadKept, loadTrust, saveKept, saveLang, savedLang, serverTrust, useTrustFile,
} from './storage.js';
import { trustView } from './trust-view.js';
import { forRequestedEntry, MAX_BUNDLE_BYTES, parseEntryInput, readKeptCheckpoint, tooLargeBundle } from './verification.js';
import { verifyInWorker } from './verify-in-worker.js';
import { verifyView } from './verify-view.js';

const root = document.getElementById('app')!;
/** A live region outside `root`, which every render rebuilds: a screen reader announces what is put here. */
const announce = document.getElementById('announce');
let announced: { result: State['result']; lang: Lang } | undefined;

const errorOf = (err: unknown) => ({ code: err instanceof OriginProofError ? err.code : 'MALFORMED', message: (err as Error).message });

const app: App = {
  state: {
    lang: savedLang(),
    tab: location.hash === '#/explore' ? 'explore' : 'verify',
    trust: { source: 'loading' },
    busy: false,
    entryText: '',
    kept: loadKept(),
    offline: !navigator.onLine,
    explore: emptyExplore(devicePageOf(location.search)),
  } satisfies State,

  t(key, params) {
    return translate(this.state.lang, key, params);
  },

  render() {
    const s = this.state;
    document.documentElement.lang = s.lang === 'zh' ? 'zh-CN' : 'en';
    document.title = this.t('app.title');
    const tab = (id: State['tab'], label: string) =>
      h('button', { type: 'button', id: `tab-${id}`, class: s.tab === id ? 'tab active' : 'tab', 'aria-pressed': String(s.tab === id), onclick: () => this.setTab(id) }, label);
    const other: Lang = s.lang === 'zh' ? 'en' : 'zh';
    // Every render rebuilds the page: the control that had the focus gets it back (a keyboard user was sent to the top).
    const focused = document.activeElement instanceof HTMLElement && root.contains(document.activeElement) ? document.activeElement.id : '';
    root.replaceChildren(
      h('header', {},
        h('div', { class: 'title' }, h('h1', { id: 'app-title' }, this.t('app.title')), h('p', { class: 'subtitle' }, this.t('app.subtitle'))),
        h('button', { type: 'button', id: 'lang-switch', lang: other === 'zh' ? 'zh-CN' : 'en', title: this.t('lang.switchTitle'), onclick: () => this.setLang(other) }, this.t('lang.switch')),
      ),
      h('nav', {}, tab('verify', this.t('tab.verify')), tab('explore', this.t('tab.explore'))),
      h('p', { class: 'offline', id: 'offline', hidden: !s.offline }, this.t('net.offline')),
      h('main', {}, s.tab === 'verify' ? [verifyView(this), trustView(this)] : exploreView(this)),
    );
    if (focused) document.getElementById(focused)?.focus({ preventScroll: true });
    // A new outcome's headline is announced, and again in the other language after a switch (the region's text is
    // the page's too); not when only the tab or something else changes.
    if (announce && (s.result !== announced?.result || s.lang !== announced?.lang)) {
      announced = { result: s.result, lang: s.lang };
      announce.textContent = s.result ? (root.querySelector('#verdict .headline')?.textContent ?? '') : '';
    }
  },

  setLang(lang) {
    this.state.lang = lang;
    saveLang(lang);
    this.render();
  },

  setTab(tab) {
    this.state.tab = tab;
    history.replaceState(null, '', tab === 'explore' ? '#/explore' : location.pathname + location.search);
    if (tab === 'explore' && !this.state.explore.log && !this.state.explore.loading) void loadExplore(this);
    this.render();
  },

  async verifyEntryText(text) {
    const parsed = parseEntryInput(text, location.origin);
    if (!parsed) return this.showNotice({ key: 'verify.badEntry' });
    if ('otherHost' in parsed) return this.showNotice({ key: 'verify.otherHost', params: { host: location.host } });
    return this.verifyEntry(parsed.index);
  },

  async verifyEntry(index) {
    const run = ++verification;
    this.state.tab = 'verify';
    this.state.entryText = String(index);
    history.replaceState(null, '', `#/entry/${index}`);
    this.state.busy = true;
    this.render();
    const got = await fetchBundle(index);
    if (run !== verification) return; // the verifier gave something else meanwhile: that is what the page shows
    if ('error' in got) return this.showNotice({ key: 'verify.fetchFailed', params: { index, reason: got.error } });
    await this.verifyBytes(got.bytes, { entry: index });
  },

  async verifyFile(file) {
    const run = ++verification;
    this.state.tab = 'verify';
    this.state.entryText = '';
    if (file.size > MAX_BUNDLE_BYTES) {
      // Refused unread: a file this large held the page's thread for seconds (decoding it, and checks without a worker).
      this.state.busy = false;
      delete this.state.notice;
      this.state.result = { outcome: tooLargeBundle(file.size), source: { file: file.name } };
      return this.render();
    }
    let bytes: Uint8Array;
    try {
      bytes = await fileBytes(file);
    } catch {
      // A folder dropped, or a file moved or changed since it was chosen: said so, no earlier outcome left shown.
      if (run === verification) this.showNotice({ key: 'verify.unreadable', params: { name: file.name } });
      return;
    }
    if (run !== verification) return;
    await this.verifyBytes(bytes, { file: file.name });
  },

  loadTrustFile(name, text) {
    try {
      this.state.trust = useTrustFile(name, text);
      trustChange++;
      delete this.state.trustError;
      delete this.state.result;
    } catch (err) {
      this.state.trustError = errorOf(err);
    }
    this.render();
  },

  async useServerTrust() {
    forgetTrustFile();
    delete this.state.trustError;
    delete this.state.result;
    const change = ++trustChange;
    const trust = await serverTrust();
    if (change !== trustChange) return; // a trust file loaded meanwhile: the verifier's own stays
    this.state.trust = trust;
    this.render();
    if (onSavedCopy()) trustRetry = setTimeout(refreshServerTrust, TRUST_RETRY_MS);
  },

  keep(note) {
    try {
      this.state.kept = readKeptCheckpoint(note, Date.now());
      saveKept(this.state.kept);
      delete this.state.keptError;
    } catch (err) {
      this.state.keptError = errorOf(err);
    }
    this.render();
  },

  loadKeptFile(text) {
    this.keep(text);
  },

  forgetKept() {
    this.state.kept = null;
    saveKept(null);
    this.render();
  },

  showNotice(notice) {
    this.state.busy = false;
    this.state.notice = notice;
    delete this.state.result;
    this.render();
  },

  async verifyBytes(bytes, source) {
    const run = ++verification;
    const trust = this.state.trust;
    if (trust.source !== 'server' && trust.source !== 'file') return this.showNotice({ key: 'verify.noTrust' });
    this.state.busy = true;
    delete this.state.notice;
    this.render();
    // Let the "Verifying…" line paint before the checks start (on this thread when no worker can run them).
    await new Promise((r) => setTimeout(r, 0));
    // With the gateway's published clock skew allowance (a gateway configured above 300 s admits readings dated
    // further ahead of their arrival, and its bundles verify only with its value).
    const skew = trust.maxClockSkewSeconds;
    // With the log's whole revocation list, so that "not revoked" is complete up to its checkpoint. Decoded and
    // checked in a Web Worker (a bundle at the 1 MiB cap takes ~0.3 s, a revocation list of 64 MiB ~2.5 s), or here
    // without one.
    const verified = await verifyInWorker(bytes, trust.text, trust.material, this.state.kept, skew !== undefined ? { maxClockSkewSeconds: skew } : {});
    // A bundle fetched for entry N proves entry N only if it is entry N's.
    const outcome = 'entry' in source ? forRequestedEntry(verified, source.entry) : verified;
    if (run !== verification) return; // the verifier gave something else meanwhile: that is what the page shows
    // The anchors were replaced meanwhile (the verifier's trust file loaded): the page shows a verdict only with
    // the anchors it shows, so the same bytes are verified again with those.
    if (this.state.trust !== trust) return this.verifyBytes(bytes, source);
    this.state.busy = false;
    this.state.result = { outcome, source };
    this.render();
  },
};

/**
 * Verifications started (an entry asked for, a file dropped or chosen): one shows its outcome only if it is the last
 * started, so that of two quick drops, or an entry's bundle still on its way when a file is dropped, the page never
 * shows the earlier one's verdict for the later.
 */
let verification = 0;
/**
 * Changes of trust anchors the verifier made (a trust file loaded, the server's asked for): the server's anchors
 * arriving after the verifier loaded their own file must not replace it.
 */
let trustChange = 0;

/** How often the page asks the server for its anchors again while it shows the saved copy. */
const TRUST_RETRY_MS = 3000;
let trustRetry: ReturnType<typeof setTimeout> | undefined;
const onSavedCopy = (): boolean => app.state.trust.source === 'server' && app.state.trust.savedAtMs !== undefined;

/**
 * Anchors read from the saved copy (the server unreachable): fetch the server's again, now and then every few
 * seconds until it answers. Not only on the 'online' event: a browser need not fire it when the network comes back
 * (Chromium 150 driven offline and back by Playwright does not), and a server can be down with the network up.
 */
function refreshServerTrust(): void {
  clearTimeout(trustRetry);
  if (!onSavedCopy()) return;
  void serverTrust().then((trust) => {
    if (!onSavedCopy()) return; // the verifier loaded a trust file meanwhile: theirs stays
    if (trust.source === 'server') app.state.trust = trust;
    app.render();
    if (onSavedCopy()) trustRetry = setTimeout(refreshServerTrust, TRUST_RETRY_MS);
  });
}

window.addEventListener('online', () => {
  app.state.offline = false;
  app.render();
  refreshServerTrust();
});
window.addEventListener('offline', () => {
  app.state.offline = true;
  app.render();
});

async function start(): Promise<void> {
  app.render();
  const change = trustChange;
  const trust = await loadTrust();
  if (change === trustChange) app.state.trust = trust; // else the verifier loaded a trust file meanwhile: theirs stays
  app.render();
  if (onSavedCopy()) trustRetry = setTimeout(refreshServerTrust, TRUST_RETRY_MS);
  const m = /^#\/entry\/(\d{1,15})$/.exec(location.hash);
  if (m) await app.verifyEntry(Number(m[1]));
  else if (app.state.tab === 'explore') void loadExplore(app);
  document.body.dataset.ready = 'true';
  // Keep the page's own files for offline use (service workers need a secure context: https or localhost).
  if ('serviceWorker' in navigator && window.isSecureContext) navigator.serviceWorker.register('./sw.js').catch(() => undefined);
}

void start();
