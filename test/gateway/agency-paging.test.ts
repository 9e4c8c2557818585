/**
 * GET /v1/agencies is paged as an agency's devices are (limit, after, the x-next-after header while more follow), in
 * registration order: the walk of its pages lists every agency exactly once, whatever the page size, also while
 * agencies register during it; a page holds at most AGENCY_PAGE_MAX (also the default, so a registry of up to that
 * many agencies is answered in one page, as before); a limit outside 1..AGENCY_PAGE_MAX and an `after` that is no
 * agency are BAD_REQUEST. The large registry is built fast: agency certificates appended to the real ledger in one
 * block and read back by Registry.load (as on start), instead of 1,005 checked HTTP registrations.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALG_EDDSA, decodeCertificate, issueCertificate, publicKey, toBase64, type Signer } from '../../protocol/index.js';
import { ENTRY_AGENCY_REGISTRATION } from '../../protocol/log-entry.js';
import { AGENCY_PAGE_MAX } from '../../gateway/http/routes/registry.js';
import { kidOf, nowS, Pki, post, startTestGateway, type TestGateway } from './harness.js';

const DAY = 86_400;

/** An Ed25519 signer over a fresh node:crypto key (the harness's noble signers are slower for a thousand agencies). */
function nodeEd25519(): Signer {
  const { publicKey: pub, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(pub.export({ format: 'der', type: 'spki' }).subarray(-32));
  return { alg: ALG_EDDSA, publicKey: raw, sign: (m) => new Uint8Array(sign(null, m, privateKey)) };
}

async function agencyCertificate(pki: Pki, id: string): Promise<Uint8Array> {
  const t = nowS();
  const holder = nodeEd25519();
  return issueCertificate(pki.root.signer, kidOf(pki.root.signer), {
    iss: 'root.example', sub: id, role: 'agency', holderKey: publicKey(holder.alg, holder.publicKey), iat: t - DAY, nbf: t - DAY, exp: t + 365 * DAY,
  });
}

interface Page { status: number; ids: string[]; next: string | undefined; body: { code?: string } }

async function page(t: TestGateway, query = ''): Promise<Page> {
  const r = await t.gw.app.inject({ method: 'GET', url: `/v1/agencies${query}` });
  const body = r.json() as unknown;
  const next = r.headers['x-next-after'];
  return { status: r.statusCode, ids: Array.isArray(body) ? (body as { id: string }[]).map((a) => a.id) : [], next: next === undefined ? undefined : String(next), body: body as { code?: string } };
}

/** Every page of GET /v1/agencies at `limit`, following x-next-after; `between` runs before each next page. */
async function walk(t: TestGateway, limit: number, between: (pageNo: number) => Promise<void> = async () => {}): Promise<Page[]> {
  const pages: Page[] = [];
  let after: string | undefined;
  do {
    if (pages.length > 0) await between(pages.length);
    const p = await page(t, `?limit=${limit}${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`);
    expect(p.status).toBe(200);
    pages.push(p);
    after = p.next;
  } while (after !== undefined && pages.length < 1000);
  return pages;
}

describe('GET /v1/agencies pages: a few agencies', () => {
  let t: TestGateway;
  let pki: Pki;
  const registered: string[] = [];
  const registerAgency = async (id: string) => {
    expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(await agencyCertificate(pki, id)) })).status).toBe(201);
    registered.push(id);
  };
  beforeAll(async () => {
    pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
    // Ids out of alphabetical order: the listing's order is registration's, not the ids'.
    for (const id of ['m.example', 'b.example', 'z.example', 'a.example', 'q.example', 'c.example', 'y.example', 'd.example', 'x.example', 'e.example', 'k.example']) await registerAgency(id);
  }, 60_000);
  afterAll(() => t?.stop());

  test('without parameters: every agency in registration order, one page, no x-next-after (as before paging)', async () => {
    expect(await page(t)).toMatchObject({ status: 200, ids: registered, next: undefined });
  });

  test('property: at any page size, the pages list every agency exactly once, in registration order; every page but the last is full', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: registered.length + 2 }), async (limit) => {
        const pages = await walk(t, limit);
        expect(pages.flatMap((p) => p.ids)).toEqual(registered);
        for (const p of pages.slice(0, -1)) expect([p.ids.length, p.next]).toEqual([limit, p.ids[p.ids.length - 1]]);
        expect(pages[pages.length - 1]!.ids.length).toBeLessThanOrEqual(limit);
        expect(pages[pages.length - 1]!.next).toBeUndefined();
      }),
      { numRuns: 20 },
    );
  });

  test('an agency registered during a walk is listed once, at the end; none is listed twice or left out', async () => {
    const before = [...registered];
    const pages = await walk(t, 3, async (n) => {
      if (n === 1) await registerAgency(`late${registered.length}.example`);
    });
    const listed = pages.flatMap((p) => p.ids);
    expect(listed).toEqual(registered);
    expect(listed.slice(0, before.length)).toEqual(before);
  });

  test.each([
    ['limit 0', '?limit=0'],
    [`limit ${AGENCY_PAGE_MAX + 1}`, `?limit=${AGENCY_PAGE_MAX + 1}`],
    ['limit not a number', '?limit=ten'],
    ['after: no registered agency', '?after=nobody.example'],
    ['after: empty', '?after='],
    ['after: over 63 characters', `?after=${'a'.repeat(64)}`],
  ])('%s: 400 BAD_REQUEST', async (_what, query) => {
    const p = await page(t, query);
    expect([p.status, p.body.code]).toEqual([400, 'BAD_REQUEST']);
  });
});

describe('GET /v1/agencies pages: more agencies than a page holds', () => {
  const N = AGENCY_PAGE_MAX + 5;
  let t: TestGateway;
  const ids: string[] = [];
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
    const block = [];
    for (let i = 0; i < N; i++) {
      const id = `agency${String(i).padStart(5, '0')}.example`;
      ids.push(id);
      block.push({ type: ENTRY_AGENCY_REGISTRATION, payload: await agencyCertificate(pki, id), receivedAtMs: Date.now() } as const);
    }
    await t.gw.ledger.ledger.appendBlock(block);
    await t.gw.registry.load();
    expect(decodeCertificate(block[0]!.payload).claims.sub).toBe(ids[0]);
  }, 120_000);
  afterAll(() => t?.stop());

  test(`the default page is ${AGENCY_PAGE_MAX} agencies, and x-next-after leads to the rest`, async () => {
    const first = await page(t);
    expect([first.status, first.ids.length, first.next]).toEqual([200, AGENCY_PAGE_MAX, ids[AGENCY_PAGE_MAX - 1]]);
    expect(first.ids).toEqual(ids.slice(0, AGENCY_PAGE_MAX));
    const rest = await page(t, `?after=${first.next}`);
    expect(rest).toMatchObject({ status: 200, ids: ids.slice(AGENCY_PAGE_MAX), next: undefined });
  });

  test(`limit ${AGENCY_PAGE_MAX} is taken, ${AGENCY_PAGE_MAX + 1} is BAD_REQUEST`, async () => {
    expect((await page(t, `?limit=${AGENCY_PAGE_MAX}`)).ids.length).toBe(AGENCY_PAGE_MAX);
    const over = await page(t, `?limit=${AGENCY_PAGE_MAX + 1}`);
    expect([over.status, over.body.code]).toEqual([400, 'BAD_REQUEST']);
  });
});
