/** The trust panel: the anchors verification uses, shown openly with fingerprints, and where they came from. */
import type { App } from './app.js';
import { download, fileButton, h } from './dom.js';
import { codeMeaning, formatTime, groupHex } from './format.js';
import { describeTrust } from './verification.js';
import { printable } from '../protocol/printable.js';

function windowText(app: App, w: { notBefore?: number; notAfter?: number }): string {
  const day = (s: number) => formatTime(app.state.lang, s * 1000);
  if (w.notBefore !== undefined && w.notAfter !== undefined) return app.t('trust.window', { from: day(w.notBefore), to: day(w.notAfter) });
  if (w.notBefore !== undefined) return app.t('trust.from', { from: day(w.notBefore) });
  if (w.notAfter !== undefined) return app.t('trust.until', { to: day(w.notAfter) });
  return app.t('trust.always');
}

function pickFile(accept: string, onText: (name: string, text: string) => void): HTMLInputElement {
  return h('input', {
    type: 'file',
    accept,
    class: 'file-input',
    onchange: (ev: Event) => {
      const input = ev.target as HTMLInputElement;
      const f = input.files?.[0];
      if (f) void f.text().then((text) => onText(f.name, text));
      input.value = '';
    },
  });
}

/** The library's own (English) wording of an error, under "Technical detail". */
/** A check's or an error's technical message, which may quote a bundle's or a gateway's text: shown escaped (printable). */
export function detail(app: App, message: string): HTMLElement {
  return h('details', {}, h('summary', {}, app.t('check.detail')), h('code', { class: 'detail' }, printable(message)));
}

/** Input the page refuses: its code and what the code means in the page's language, then the technical detail. */
export function errorLines(app: App, key: 'keep.bad' | 'trust.bad', err: { code: string; message: string }, id?: string): HTMLElement[] {
  return [h('p', { class: 'error', ...(id ? { id } : {}) }, app.t(key, { code: err.code, meaning: codeMeaning(app.state.lang, err.code) })), detail(app, err.message)];
}

export function trustView(app: App): HTMLElement {
  const { trust } = app.state;
  const t = app.t.bind(app);
  // Why the server's own anchors are not shown: it did not answer, or it answered a trust file that is not valid.
  const problem = trust.source === 'server' || trust.source === 'none' ? trust.problem : undefined;
  const invalid = problem?.kind === 'invalid' ? { code: problem.code, meaning: codeMeaning(app.state.lang, problem.code) } : undefined;
  let source: string;
  if (trust.source === 'loading') source = t('trust.loading');
  else if (trust.source === 'file') source = t('trust.source.file', { name: trust.name });
  else if (trust.source === 'server') {
    const time = trust.savedAtMs ? formatTime(app.state.lang, trust.savedAtMs) : undefined;
    source = time === undefined ? t('trust.source.server') : invalid ? t('trust.source.serverSavedInvalid', { time, ...invalid }) : t('trust.source.serverSaved', { time });
  } else if (invalid) source = t('trust.serverInvalid', invalid);
  else source = problem?.kind === 'unreachable' ? t('trust.fetchFailed', { reason: problem.reason }) : t('trust.source.none');

  const d = trust.source === 'server' || trust.source === 'file' ? describeTrust(trust.material) : undefined;
  const rows = d
    ? [
        h('h3', {}, t('trust.roots')),
        d.roots.length === 0
          ? h('p', { class: 'warn' }, t('trust.noRoots'))
          : h('table', { class: 'anchors', id: 'trust-roots' },
              h('thead', {}, h('tr', {}, h('th', {}, t('trust.name')), h('th', {}, t('trust.alg')), h('th', {}, t('trust.fingerprint')), h('th', {}, t('trust.validity')))),
              h('tbody', {}, d.roots.map((r) => h('tr', { 'data-root': r.name }, h('td', {}, printable(r.name)), h('td', {}, r.alg), h('td', { class: 'fp' }, groupHex(r.fingerprint)), h('td', {}, windowText(app, r)))))),
        h('h3', {}, t('trust.gateways')),
        d.keys.length === 0
          ? h('p', { class: 'warn' }, t('trust.noKeys'))
          : h('table', { class: 'anchors', id: 'trust-keys' },
              h('thead', {}, h('tr', {}, h('th', {}, t('trust.name')), h('th', {}, t('trust.keyId')), h('th', {}, t('trust.fingerprint')), h('th', {}, t('trust.validity')))),
              h('tbody', {}, d.keys.map((k) => h('tr', { 'data-key': k.keyId }, h('td', {}, printable(k.name)), h('td', { class: 'fp' }, k.keyId), h('td', { class: 'fp' }, groupHex(k.fingerprint)), h('td', {}, windowText(app, k)))))),
        d.origin ? h('p', {}, `${t('trust.origin')}: `, h('code', {}, printable(d.origin))) : null,
        trust.source !== 'loading' && trust.source !== 'none' && trust.maxClockSkewSeconds !== undefined
          ? h('p', { id: 'trust-skew', 'data-seconds': trust.maxClockSkewSeconds }, t('trust.skew', { seconds: trust.maxClockSkewSeconds }))
          : null,
      ]
    : [];

  return h('section', { id: 'trust-panel', class: 'panel', 'data-source': trust.source },
    h('h2', {}, t('trust.title')),
    h('p', { id: 'trust-source', class: trust.source === 'none' ? 'warn' : 'note', 'data-problem': problem?.kind ?? '', 'data-code': invalid?.code ?? '' }, source),
    problem?.kind === 'invalid' ? detail(app, problem.message) : null,
    app.state.trustError ? errorLines(app, 'trust.bad', app.state.trustError, 'trust-error') : null,
    rows,
    h('div', { class: 'actions' },
      fileButton(t('trust.load'), pickFile('.json,application/json', (name, text) => app.loadTrustFile(name, text))),
      trust.source === 'file' ? h('button', { type: 'button', onclick: () => void app.useServerTrust() }, t('trust.useServer')) : null,
      trust.source === 'server' ? h('button', { type: 'button', onclick: () => download('trust.json', trust.text) }, t('trust.save')) : null,
    ),
  );
}

export { pickFile };
