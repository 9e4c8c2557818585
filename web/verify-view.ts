/** The Verify view: drop a bundle, paste a link or type an entry number; the verdict with each check in words. */
import { CHECK_NAMES, type Verdict } from '../protocol/verify-bundle.js';
import type { App } from './app.js';
import { fileButton, h } from './dom.js';
import { checkSentence, codeMeaning, formatReading, formatTime, verdictHeadline, type ReadingBody } from './format.js';
import { dataKey } from './i18n.js';
import { detail, errorLines, pickFile } from './trust-view.js';
import type { Outcome } from './verification.js';
import { printable } from '../protocol/printable.js';

function inputArea(app: App): HTMLElement {
  const t = app.t.bind(app);
  const choose = h('input', {
    type: 'file',
    id: 'bundle-file',
    class: 'file-input',
    accept: '.cbor,.json,application/cbor,application/json',
    onchange: (ev: Event) => {
      const input = ev.target as HTMLInputElement;
      const f = input.files?.[0];
      if (f) void app.verifyFile(f);
      input.value = '';
    },
  });
  // Not a focus stop itself: the keyboard opens the picker with the button inside (fileButton).
  const drop = h('div', { id: 'drop-zone', class: 'drop-zone' },
    h('p', {}, t('verify.drop')),
    fileButton(t('verify.choose'), choose),
  );
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const f = ev.dataTransfer?.files[0];
    if (f) void app.verifyFile(f);
  });

  const entry = h('input', { id: 'entry-input', type: 'text', value: app.state.entryText, placeholder: t('verify.entryPlaceholder'), autocomplete: 'off', spellcheck: 'false' });
  entry.addEventListener('input', () => (app.state.entryText = entry.value));
  const form = h('form', { class: 'entry-form', onsubmit: (ev: Event) => {
    ev.preventDefault();
    void app.verifyEntryText(entry.value);
  } },
    h('label', { for: 'entry-input' }, t('verify.entryLabel')),
    h('div', { class: 'row' }, entry, h('button', { type: 'submit', id: 'entry-go', disabled: app.state.busy }, t('verify.go'))),
  );
  return h('div', { class: 'inputs' }, drop, form);
}

function recordView(app: App, v: Verdict): HTMLElement {
  const t = app.t.bind(app);
  const lang = app.state.lang;
  const r = v.record;
  if (!r) return h('section', { class: 'record' }, h('p', {}, t('record.undecodable')));
  if (r.entryType !== 1 || !r.body) {
    const names: Record<number, string> = { 2: 'agency-registration', 3: 'device-registration', 4: 'revocation' };
    const key = names[r.entryType] ? dataKey('entry', names[r.entryType]!) : undefined;
    return h('section', { class: 'record' }, h('p', { id: 'record-reading', class: 'reading' }, t('record.registry', { type: key ? t(key) : t('entry.other', { type: r.entryType }), index: r.index })));
  }
  // Values from the record (a bundle dropped on the page is anyone's bytes until verified): shown escaped.
  const field = (label: string, value: string, id?: string) => [h('dt', {}, label), h('dd', id ? { id } : {}, printable(value))];
  return h('section', { class: 'record' },
    h('h3', {}, t('record.title')),
    h('p', { id: 'record-reading', class: 'reading' }, formatReading(lang, r.body as ReadingBody)),
    h('dl', {},
      field(t('record.device'), r.deviceId ?? t('record.unknown'), 'record-device'),
      field(t('record.agency'), r.agency ?? t('record.unknown'), 'record-agency'),
      field(t('record.signedAt'), formatTime(lang, r.iat !== undefined ? r.iat * 1000 : undefined), 'record-signed-at'),
      field(t('record.loggedAt'), formatTime(lang, r.receivedAtMs), 'record-logged-at'),
      field(t('record.entry'), t('record.entryOf', { index: r.index, size: r.treeSize })),
    ),
  );
}

function checksView(app: App, outcome: Extract<Outcome, { kind: 'verdict' }>): HTMLElement {
  const t = app.t.bind(app);
  const v = outcome.verdict;
  return h('section', { class: 'checks' },
    h('h3', {}, t('checks.title')),
    h('ol', { id: 'checks' },
      CHECK_NAMES.map((name) => v.checks.find((c) => c.name === name)!).map((c) =>
        h('li', { class: `check ${c.status}`, 'data-check': c.name, 'data-status': c.status },
          h('span', { class: 'mark', 'aria-hidden': 'true' }, c.status === 'pass' ? '✓' : c.status === 'fail' ? '✗' : '–'),
          h('div', { class: 'body' },
            h('p', { class: 'head' },
              h('strong', {}, t(`check.${c.name}`)), ' ',
              h('span', { class: 'status' }, t(`status.${c.status}`)),
              c.code ? h('code', { class: 'code' }, c.code) : null,
            ),
            h('p', { class: 'sentence' }, checkSentence(app.state.lang, c, v, outcome.ctx)),
            detail(app, c.message),
          ),
        ),
      ),
    ),
  );
}

function keptView(app: App, outcome?: Extract<Outcome, { kind: 'verdict' }>): HTMLElement {
  const t = app.t.bind(app);
  const k = app.state.kept;
  const keepable = outcome && outcome.verdict.valid && outcome.verdict.checkpoint && (!k || k.size !== outcome.verdict.checkpoint.size);
  return h('section', { id: 'kept', class: 'panel' },
    h('h2', {}, t('keep.title')),
    h('p', { id: 'kept-state', 'data-size': k?.size ?? '' }, k ? t('keep.current', { size: k.size, origin: k.origin, time: formatTime(app.state.lang, k.keptAtMs) }) : t('keep.none')),
    app.state.keptError ? errorLines(app, 'keep.bad', app.state.keptError) : null,
    h('div', { class: 'actions' },
      keepable ? h('button', { type: 'button', id: 'keep-checkpoint', onclick: () => app.keep(outcome.bundle.checkpoint) }, t('keep.button', { size: outcome.verdict.checkpoint!.size })) : null,
      k ? h('button', { type: 'button', id: 'forget-checkpoint', onclick: () => app.forgetKept() }, t('keep.forget')) : null,
      fileButton(t('keep.load'), pickFile('.txt,text/plain', (_n, text) => app.loadKeptFile(text))),
    ),
  );
}

/** The result of one verification, headed by where the bundle came from. */
function resultView(app: App, result: NonNullable<App['state']['result']>): HTMLElement {
  const t = app.t.bind(app);
  const o = result.outcome;
  if (o.kind === 'wrongEntry') {
    // Never a VALID headline, a record or a link for the entry asked for: the bundle is of another entry.
    return h('section', { id: 'verdict', class: 'verdict invalid', 'data-valid': 'false', 'data-wrong-entry': String(o.got) },
      h('p', { class: 'source' }, t('verify.sourceEntry', { index: o.requested })),
      h('p', { class: 'headline', id: 'verdict-headline' }, t('verify.wrongEntry', { requested: o.requested, got: o.got })));
  }
  if (o.kind === 'unusable') {
    const source = 'file' in result.source ? t('verify.sourceFile', { name: result.source.file }) : t('verify.sourceEntry', { index: result.source.entry });
    return h('section', { id: 'verdict', class: 'verdict invalid', 'data-valid': 'false', 'data-unusable': o.code },
      h('p', { class: 'source' }, source),
      h('p', { class: 'headline' }, t('verify.unusable', { code: o.code, meaning: codeMeaning(app.state.lang, o.code) })),
      detail(app, o.message));
  }
  // The source line and the link name the entry the bundle proves (forRequestedEntry made sure it is the one asked for).
  const source = 'file' in result.source ? t('verify.sourceFile', { name: result.source.file }) : t('verify.sourceEntry', { index: o.bundle.index });
  const link = 'entry' in result.source ? new URL(`#/entry/${o.bundle.index}`, document.baseURI).href : null;
  return h('section', { id: 'verdict', class: `verdict ${o.verdict.valid ? 'valid' : 'invalid'}`, 'data-valid': String(o.verdict.valid) },
    h('p', { class: 'source' }, source, link ? [' · ', h('a', { href: link, id: 'record-link' }, t('verify.link'))] : null),
    h('p', { class: 'headline', id: 'verdict-headline' }, verdictHeadline(app.state.lang, o.verdict)),
    recordView(app, o.verdict),
    checksView(app, o),
  );
}

export function verifyView(app: App): HTMLElement {
  const t = app.t.bind(app);
  const { result, notice, busy } = app.state;
  let out: HTMLElement | null = null;
  if (busy) out = h('p', { class: 'note', id: 'busy' }, t('verify.working'));
  else if (notice) out = h('p', { class: 'error', id: 'notice' }, t(notice.key, notice.params));
  else if (result) out = resultView(app, result);
  const verdictOutcome = result?.outcome.kind === 'verdict' ? result.outcome : undefined;
  return h('div', { id: 'verify-view' },
    h('section', { class: 'panel' }, h('h2', {}, t('verify.title')), inputArea(app), out),
    keptView(app, verdictOutcome),
  );
}
