/**
 * The Explore view: the log, its latest checkpoint and blocks, agencies and their devices with status, a
 * device's latest readings (each with a Verify button), and rejected-reading counts by code. All of it is
 * what the server reports; only verification (the other view) relies on nothing but the trust anchors.
 */
import type { App } from './app.js';
import { h } from './dom.js';
import { codeMeaning, formatReading, formatTime, shortId, type ReadingBody } from './format.js';
import { dataKey } from './i18n.js';
import { getJson, getJsonWithHeaders, getText } from './storage.js';
import { printable } from '../protocol/printable.js';

interface LogInfo { origin: string; size: number; height: number }
interface Block { height: number; firstIndex: number; lastIndex: number; treeSize: number; timeMs: number }
interface Agency { id: string; devices: number; revoked: boolean; revokedFrom?: number }
interface Device { deviceId: string; status: string; notBefore: number; notAfter: number; revokedFrom?: number; profile: { kind: string } }
interface Entry { index: number; receivedAtMs: number; reading?: { seq: number; iat: number; body: ReadingBody } }
interface Rejections { sinceMs: number; total: number; byCode: { code: string; count: number }[] }

/** Most devices in one answer of GET /v1/agencies/:id/devices (the gateway's DEVICE_PAGE_MAX), and the page's default. */
export const DEVICE_PAGE = 1000;

/**
 * An agency's devices shown so far. `next`: the gateway's `x-next-after` cursor while more follow; `loading`: a
 * further page is on its way; `error`: why the last further page failed (the devices shown stay).
 */
export interface DeviceList { devices: Device[]; next?: string; loading: boolean; error?: string }

export interface ExploreState {
  loading: boolean;
  error?: string;
  log?: LogInfo;
  checkpoint?: string;
  blocks?: Block[];
  agencies?: Agency[];
  rejections?: Rejections;
  /** Devices asked for per request (1 to DEVICE_PAGE). */
  devicePage: number;
  /** By agency id: its devices, or why the first page could not be had. */
  devices: Record<string, DeviceList | string>;
  readings: Record<string, Entry[] | string>;
}

/** A record keyed by ids from the gateway: no prototype, so that "__proto__" or "constructor" is an id like any other. */
const byId = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

export const emptyExplore = (devicePage = DEVICE_PAGE): ExploreState => ({ loading: false, devicePage, devices: byId(), readings: byId() });

/** Devices per request: DEVICE_PAGE, or fewer with `?devicePage=N` in the page's address (the browser test uses 2). */
export function devicePageOf(search: string): number {
  const n = Number(new URLSearchParams(search).get('devicePage'));
  return Number.isInteger(n) && n >= 1 && n <= DEVICE_PAGE ? n : DEVICE_PAGE;
}

/** Most pages of GET /v1/agencies read (of up to 1,000 agencies each): a gateway whose pages never end is refused. */
const AGENCY_PAGES_MAX = 100;

/**
 * Every registered agency: GET /v1/agencies is paged like an agency's devices, so its pages are read in turn while
 * the gateway's `x-next-after` says more follow.
 */
async function allAgencies(): Promise<Agency[]> {
  const agencies: Agency[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < AGENCY_PAGES_MAX; pages++) {
    const { body, headers } = await getJsonWithHeaders<Agency[]>(after === undefined ? 'v1/agencies' : `v1/agencies?${new URLSearchParams({ after })}`);
    if (!Array.isArray(body)) throw new Error('MALFORMED: the agencies are not a list');
    agencies.push(...body);
    const next = headers.get('x-next-after') ?? undefined;
    if (next === undefined) return agencies;
    if (next === after || body.length === 0) throw new Error('MALFORMED: the next page of agencies starts where this one did');
    after = next;
  }
  throw new Error(`MALFORMED: more than ${AGENCY_PAGES_MAX} pages of agencies`);
}

export async function loadExplore(app: App): Promise<void> {
  const s = app.state.explore;
  s.loading = true;
  delete s.error;
  app.render();
  try {
    const [log, blocks, agencies, rejections] = await Promise.all([
      getJson<LogInfo>('v1/log'),
      getJson<{ blocks: Block[] }>('v1/blocks?limit=8'),
      allAgencies(),
      getJson<Rejections>('v1/rejections'),
    ]);
    if (!Array.isArray(blocks?.blocks) || !Array.isArray(agencies) || !Array.isArray(rejections?.byCode)) throw new Error('MALFORMED: the gateway answered lists that are none');
    Object.assign(s, { log, blocks: blocks.blocks, agencies, rejections, devices: byId(), readings: byId() });
    s.checkpoint = log.size > 0 ? await getText('v1/checkpoints/latest') : undefined;
  } catch (err) {
    s.error = (err as Error).message;
  }
  s.loading = false;
  app.render();
}

async function loadInto<T, R = T>(app: App, into: Record<string, T | string>, key: string, path: string, pick: (r: R) => T = (r) => r as unknown as T): Promise<void> {
  try {
    into[key] = pick(await getJson<R>(path));
  } catch (err) {
    into[key] = (err as Error).message;
  }
  app.render();
}

/**
 * The first page of an agency's devices, or (a list shown) the page after it. A further page is appended; if it
 * fails, its error is shown under the devices already listed and the button stays to try again.
 */
async function loadDevicePage(app: App, agencyId: string): Promise<void> {
  const s = app.state.explore;
  const shown = own(s.devices, agencyId);
  const list = typeof shown === 'object' ? shown : undefined;
  const query = new URLSearchParams({ limit: String(s.devicePage) });
  if (list) {
    if (list.loading || list.next === undefined) return;
    query.set('after', list.next);
    list.loading = true;
    delete list.error;
    app.render();
  }
  try {
    const { body, headers } = await getJsonWithHeaders<Device[]>(`v1/agencies/${encodeURIComponent(agencyId)}/devices?${query}`);
    if (!Array.isArray(body)) throw new Error('MALFORMED: the devices are not a list');
    const next = headers.get('x-next-after') ?? undefined;
    if (!list) s.devices[agencyId] = { devices: body, loading: false, ...(next !== undefined ? { next } : {}) };
    else {
      list.devices.push(...body);
      if (next !== undefined) list.next = next;
      else delete list.next;
    }
  } catch (err) {
    if (list) list.error = (err as Error).message;
    else s.devices[agencyId] = (err as Error).message;
  }
  if (list) list.loading = false;
  app.render();
}

function deviceStatus(app: App, d: Device): string {
  const time = (s: number | undefined) => formatTime(app.state.lang, s === undefined ? undefined : s * 1000);
  switch (d.status) {
    case 'revoked': return app.t('status.revoked', { time: time(d.revokedFrom) });
    case 'expired': return app.t('status.expired', { time: time(d.notAfter) });
    case 'not-yet-valid': return app.t('status.not-yet-valid', { time: time(d.notBefore) });
    case 'agency-revoked': return app.t('status.agency-revoked');
    case 'untrusted': return app.t('status.untrusted');
    default: return app.t('status.active');
  }
}

/**
 * What is kept for `key` (an agency or device id from the gateway) in `by`: its own entry only. With plain objects an
 * id such as "constructor" read Object.prototype's, and the view threw on it (found by the web review).
 */
const own = <T>(by: Record<string, T>, key: string): T | undefined => (Object.hasOwn(by, key) ? by[key] : undefined);

function readingsTable(app: App, deviceId: string): HTMLElement | null {
  const t = app.t.bind(app);
  const r = own(app.state.explore.readings, deviceId);
  if (r === undefined) return null;
  if (typeof r === 'string') return h('p', { class: 'error' }, t('explore.failed', { reason: r }));
  if (r.length === 0) return h('p', { class: 'note' }, t('device.noReadings'));
  return h('table', { class: 'readings', 'data-device': deviceId },
    h('thead', {}, h('tr', {}, h('th', {}, t('entry.index')), h('th', {}, t('entry.seq')), h('th', {}, t('entry.reading')), h('th', {}, t('entry.signedAt')), h('th', {}))),
    h('tbody', {}, r.map((e) => h('tr', { 'data-entry': e.index },
      h('td', {}, e.index),
      h('td', {}, e.reading?.seq ?? ''),
      h('td', {}, e.reading ? formatReading(app.state.lang, e.reading.body) : ''),
      h('td', {}, e.reading ? formatTime(app.state.lang, e.reading.iat * 1000) : ''),
      h('td', {}, h('button', { type: 'button', class: 'verify-entry', onclick: () => void app.verifyEntry(e.index) }, t('entry.verify'))),
    ))),
  );
}

function agencyBlock(app: App, a: Agency): HTMLElement {
  const t = app.t.bind(app);
  const shown = own(app.state.explore.devices, a.id);
  const list = typeof shown === 'object' ? shown : undefined;
  const devices = list?.devices;
  const kindName = (k: string) => { const key = dataKey('kind', k); return key ? t(key) : k; };
  return h('li', { class: 'agency', 'data-agency': a.id },
    h('p', {},
      h('strong', {}, printable(String(a.id))), ' · ', t('agency.devices', { count: a.devices }), ' · ',
      h('span', { class: a.revoked ? 'bad' : 'good' }, a.revoked ? t('agency.revoked', { time: formatTime(app.state.lang, (a.revokedFrom ?? 0) * 1000) }) : t('agency.active')), ' ',
      shown === undefined ? h('button', { type: 'button', class: 'show-devices', onclick: () => void loadDevicePage(app, a.id) }, t('agency.show')) : null,
    ),
    typeof shown === 'string' ? h('p', { class: 'error' }, t('explore.failed', { reason: shown })) : null,
    devices && devices.length === 0 ? h('p', { class: 'note' }, t('device.noDevices')) : null,
    devices && devices.length > 0
      ? h('table', { class: 'devices' },
          h('thead', {}, h('tr', {}, h('th', {}, t('device.id')), h('th', {}, t('device.kind')), h('th', {}, t('device.status')), h('th', {}))),
          h('tbody', {}, devices.map((d) => [
            h('tr', { class: 'device', 'data-device': d.deviceId, 'data-status': d.status },
              h('td', { title: printable(String(d.deviceId)) }, h('code', {}, printable(shortId(String(d.deviceId))))),
              h('td', {}, kindName(d.profile.kind)),
              h('td', { class: d.status === 'active' ? 'good' : 'bad' }, deviceStatus(app, d)),
              h('td', {}, h('button', { type: 'button', class: 'show-readings', onclick: () => void loadInto(app, app.state.explore.readings, d.deviceId, `v1/devices/${encodeURIComponent(d.deviceId)}/latest?limit=10`, (r: { entries: Entry[] }) => {
                if (!Array.isArray(r?.entries)) throw new Error('MALFORMED: the readings are not a list');
                return r.entries;
              }) }, t('device.showReadings'))),
            ),
            own(app.state.explore.readings, d.deviceId) !== undefined ? h('tr', {}, h('td', { colspan: 4 }, h('p', {}, h('strong', {}, t('device.readings'))), readingsTable(app, d.deviceId))) : null,
          ])),
        )
      : null,
    list?.error !== undefined ? h('p', { class: 'error more-devices-error' }, t('explore.failed', { reason: list.error })) : null,
    list?.next !== undefined
      ? h('button', { type: 'button', class: 'more-devices', disabled: list.loading, onclick: () => void loadDevicePage(app, a.id) }, t(list.loading ? 'explore.loading' : 'agency.more'))
      : null,
  );
}

export function exploreView(app: App): HTMLElement {
  const t = app.t.bind(app);
  const s = app.state.explore;
  const lang = app.state.lang;
  return h('div', { id: 'explore-view' },
    h('section', { class: 'panel' },
      h('h2', {}, t('explore.title')),
      h('p', { class: 'note' }, t('explore.note')),
      h('button', { type: 'button', id: 'explore-refresh', onclick: () => void loadExplore(app) }, t('explore.refresh')),
      s.loading ? h('p', { class: 'note' }, t('explore.loading')) : null,
      s.error ? h('p', { class: 'error' }, t('explore.failed', { reason: s.error })) : null,
      s.log ? h('p', { id: 'explore-log' }, t('explore.log', { origin: s.log.origin, size: s.log.size, blocks: s.log.height + 1 })) : null,
      s.checkpoint ? [h('h3', {}, t('explore.latestCheckpoint')), h('pre', { class: 'checkpoint' }, printable(s.checkpoint, { lines: true }))] : null,
    ),
    s.blocks
      ? h('section', { class: 'panel' },
          h('h2', {}, t('explore.blocks')),
          s.blocks.length === 0
            ? h('p', { class: 'note' }, t('explore.noBlocks'))
            : h('table', { id: 'blocks' },
                h('thead', {}, h('tr', {}, h('th', {}, t('block.height')), h('th', {}, t('block.entries')), h('th', {}, t('block.treeSize')), h('th', {}, t('block.time')))),
                h('tbody', {}, s.blocks.map((b) => h('tr', { 'data-height': b.height }, h('td', {}, b.height), h('td', {}, `${b.firstIndex}–${b.lastIndex}`), h('td', {}, b.treeSize), h('td', {}, formatTime(lang, b.timeMs))))),
              ),
        )
      : null,
    s.agencies
      ? h('section', { class: 'panel' },
          h('h2', {}, t('explore.agencies')),
          s.agencies.length === 0 ? h('p', { class: 'note' }, t('explore.noAgencies')) : h('ul', { class: 'agencies' }, s.agencies.map((a) => agencyBlock(app, a))),
        )
      : null,
    s.rejections
      ? h('section', { class: 'panel', id: 'rejections' },
          h('h2', {}, t('explore.rejections', { time: formatTime(lang, s.rejections.sinceMs) })),
          s.rejections.byCode.length === 0
            ? h('p', { class: 'note' }, t('rejections.none'))
            : [
                h('table', {},
                  h('thead', {}, h('tr', {}, h('th', {}, t('rejections.code')), h('th', {}, t('rejections.count')), h('th', {}, t('rejections.meaning')))),
                  h('tbody', {}, s.rejections.byCode.map((c) => h('tr', { class: 'rejection', 'data-code': c.code }, h('td', {}, h('code', {}, c.code)), h('td', { class: 'count' }, c.count), h('td', {}, codeMeaning(lang, c.code))))),
                ),
                h('p', {}, t('rejections.total', { count: s.rejections.total })),
              ],
        )
      : null,
  );
}

