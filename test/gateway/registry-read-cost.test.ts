/**
 * The work of the registry's read routes grows with their answer, not with the registry (found by review): with
 * 6,000 devices in two agencies, GET /v1/agencies touched every device record per request, and each page of
 * GET /v1/agencies/:id/devices scanned the devices from the first (walking an agency of N devices: O(N^2)). Counted,
 * not timed: every device record counts the requests' reads of its fields (a read-only counter installed on the real
 * records after the registry is built), and a page's count must not depend on the page's place in the list.
 *
 * The fleet is built fast: device certificates signed with node:crypto, appended to the real ledger in whole blocks
 * and read back by Registry.load (as on start), instead of one checked HTTP registration each.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ALG_EDDSA, createProofOfPossession, createSign1, CT_CERTIFICATE, decodeCertificate, deviceIdFromKey, deviceIdToHex, encode, issueCertificate, publicKey, toBase64,
  createRevocation, type DecodedCertificate, type Signer,
} from '../../protocol/index.js';
import { claimsToMap } from '../../protocol/certificate.js';
import { ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION } from '../../protocol/log-entry.js';
import type { DeviceRecord } from '../../gateway/registry.js';
import { certify, FIRMWARE, kidOf, nowS, Pki, post, register, startTestGateway, type Device, type TestGateway } from './harness.js';

/** Enough that a pass over the registry dwarfs a page (the counts, not N, prove it; 20,000 took the build 12 s). */
const N = 6000;
const DAY = 86_400;

/** An Ed25519 signer over a fresh node:crypto key (the harness's noble signers are ~10x slower for 20,000 devices). */
function nodeEd25519(): Signer {
  const { publicKey: pub, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(pub.export({ format: 'der', type: 'spki' }).subarray(-32));
  return { alg: ALG_EDDSA, publicKey: raw, sign: (m) => new Uint8Array(sign(null, m, privateKey)) };
}

async function agencyCert(pki: Pki, signer: Signer, id: string): Promise<DecodedCertificate> {
  const t = nowS();
  return decodeCertificate(await issueCertificate(pki.root.signer, kidOf(pki.root.signer), {
    iss: 'root.example', sub: id, role: 'agency', holderKey: publicKey(signer.alg, signer.publicKey), iat: t - DAY, nbf: t - DAY, exp: t + 365 * DAY,
  }));
}

async function deviceCert(agency: { signer: Signer; cert: DecodedCertificate }): Promise<{ id: string; bytes: Uint8Array }> {
  const d = nodeEd25519();
  const holderKey = publicKey(d.alg, d.publicKey);
  const id = deviceIdToHex(deviceIdFromKey(holderKey));
  const t = nowS();
  const agencyId = agency.cert.claims.sub;
  // issueCertificate's steps but its check of the proof of possession (a noble verification, ~2 ms: 40 s for the
  // fleet); the proof is the device's own, signed just above, and the gateway's load decodes it as on start.
  const claims = {
    iss: agencyId, sub: id, role: 'device' as const, holderKey, iat: t - DAY, nbf: t - DAY, exp: t + 365 * DAY, cti: new Uint8Array(randomBytes(16)),
    profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
    proofOfPossession: await createProofOfPossession(d, { agencyId, nonce: new Uint8Array(randomBytes(16)), iat: t - DAY }),
  };
  const bytes = await createSign1({ signer: agency.signer, payload: encode(claimsToMap(claims)), kid: agency.cert.holderKid, contentType: CT_CERTIFICATE });
  return { id, bytes };
}

describe('registry read routes: work per request grows with the answer, not the registry', () => {
  let t: TestGateway;
  /** Device ids in registration order, and each one's agency. */
  const order: { id: string; agency: string }[] = [];
  /** The device records a request read a field of. */
  let touched: Set<DeviceRecord> | undefined;

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
    const agencies = [];
    for (const id of ['a.example', 'b.example']) {
      const signer = nodeEd25519();
      const cert = await agencyCert(pki, signer, id);
      expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(cert.bytes) })).status).toBe(201);
      agencies.push({ signer, cert });
    }
    // Interleaved: two of a.example's to one of b.example's.
    const L = t.gw.ledger.ledger;
    for (let i = 0; i < N; i += 1000) {
      const block = [];
      for (let k = i; k < Math.min(N, i + 1000); k++) {
        const agency = agencies[k % 3 === 2 ? 1 : 0]!;
        const { id, bytes } = await deviceCert(agency);
        order.push({ id, agency: agency.cert.claims.sub });
        block.push({ type: ENTRY_DEVICE_REGISTRATION, payload: bytes, certRef: agency.cert.certRef, receivedAtMs: Date.now() } as const);
      }
      await L.appendBlock(block);
    }
    await t.gw.registry.load();
    // The counter: each record's fields become accessors that note the record while a request is counted.
    for (const { id } of order) {
      const record = t.gw.registry.deviceById(id)!;
      for (const key of Object.keys(record) as (keyof DeviceRecord)[]) {
        let value: unknown = record[key];
        Object.defineProperty(record, key, {
          enumerable: true, configurable: true,
          get: () => { touched?.add(record); return value; },
          set: (v: unknown) => { value = v; },
        });
      }
    }
  }, 60_000);
  afterAll(() => t?.stop());

  /** The request's answer and how many device records it read. */
  async function counted(url: string): Promise<{ status: number; body: unknown; next?: string; records: number }> {
    touched = new Set();
    try {
      const r = await t.gw.app.inject({ method: 'GET', url });
      return { status: r.statusCode, body: r.json(), ...(r.headers['x-next-after'] ? { next: String(r.headers['x-next-after']) } : {}), records: touched.size };
    } finally {
      touched = undefined;
    }
  }

  test('GET /v1/agencies counts each agency\'s devices without reading the device records', async () => {
    const r = await counted('/v1/agencies');
    expect(r.status).toBe(200);
    const a = order.filter((o) => o.agency === 'a.example').length;
    expect((r.body as { id: string; devices: number }[]).map((x) => [x.id, x.devices])).toEqual([['a.example', a], ['b.example', N - a]]);
    expect(r.records).toBe(0);
  });

  test("a page of an agency's devices reads that page's records wherever it is in the list", async () => {
    const mine = order.filter((o) => o.agency === 'a.example').map((o) => o.id);
    // First page, one from the middle, the last: each reads its 10 records (and the cursor's), no more.
    for (const at of [undefined, mine[Math.floor(mine.length / 2)]!, mine[mine.length - 11]!]) {
      const r = await counted(`/v1/agencies/a.example/devices?limit=10${at ? `&after=${at}` : ''}`);
      const start = at ? mine.indexOf(at) + 1 : 0;
      expect((r.body as { deviceId: string }[]).map((d) => d.deviceId)).toEqual(mine.slice(start, start + 10));
      // at least its 10: the counter counts (a counter that saw nothing would pass every bound in this file)
      expect(r.records).toBeGreaterThanOrEqual(10);
      expect(r.records).toBeLessThanOrEqual(11);
    }
    // A cursor that is another agency's device: the agency's devices registered after it.
    const other = order.findIndex((o, i) => i > N / 2 && o.agency === 'b.example');
    const r = await counted(`/v1/agencies/a.example/devices?limit=10&after=${order[other]!.id}`);
    expect((r.body as { deviceId: string }[]).map((d) => d.deviceId)).toEqual(order.slice(other + 1).filter((o) => o.agency === 'a.example').slice(0, 10).map((o) => o.id));
    expect(r.records).toBeLessThanOrEqual(11);
  });

  test('walking a whole agency page by page reads each of its records about once: O(N), not O(N^2)', async () => {
    const mine = order.filter((o) => o.agency === 'b.example').map((o) => o.id);
    const got: string[] = [];
    let records = 0;
    let after: string | undefined;
    let pages = 0;
    do {
      const r = await counted(`/v1/agencies/b.example/devices?limit=100${after ? `&after=${after}` : ''}`);
      expect(r.status).toBe(200);
      got.push(...(r.body as { deviceId: string }[]).map((d) => d.deviceId));
      records += r.records;
      after = r.next;
      pages++;
    } while (after !== undefined && pages < 100);
    expect(got).toEqual(mine);
    expect(pages).toBe(Math.ceil(mine.length / 100));
    expect(records).toBeGreaterThanOrEqual(mine.length);
    expect(records).toBeLessThanOrEqual(mine.length + pages);
  });
});

/**
 * The lists kept per agency answer as the pass over every device did: each agency's devices are those whose agency
 * record is named so now, in the order they were first registered, and any registered device is a cursor. Checked
 * against that definition (the oracle below) after a device moves agency, and after an agency renamed in a log
 * written before the rule that refuses it (CONFLICT now) is loaded.
 */
describe("an agency's listing and count follow its devices' moves", () => {
  let t: TestGateway;
  const ids: string[] = [];

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
  });
  afterAll(() => t?.stop());

  /** The listing by its definition: the registered devices in registration order whose agency is named `agency` now. */
  const oracle = (agency: string) => ids.filter((id) => t.gw.registry.deviceById(id)!.agency.cert.claims.sub === agency);

  async function listing(agency: string, limit: number, after?: string): Promise<string[]> {
    const got: string[] = [];
    let cursor = after;
    for (let pages = 0; pages < 50; pages++) {
      const r = await t.gw.app.inject({ method: 'GET', url: `/v1/agencies/${agency}/devices?limit=${limit}${cursor ? `&after=${cursor}` : ''}` });
      expect(r.statusCode).toBe(200);
      got.push(...r.json().map((d: { deviceId: string }) => d.deviceId));
      cursor = r.headers['x-next-after'] as string | undefined;
      if (cursor === undefined) return got;
    }
    throw new Error('too many pages');
  }

  async function expectAsDefined(agencies: string[]): Promise<void> {
    const counts = new Map((await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json().map((a: { id: string; devices: number }) => [a.id, a.devices]));
    for (const a of agencies) {
      const want = oracle(a);
      expect([a, await listing(a, 2)]).toEqual([a, want]);
      expect([a, counts.get(a) ?? 0]).toEqual([a, want.length]);
      // every registered device is a cursor: the rest of the list after its place
      for (const id of ids) expect([a, id, await listing(a, 3, id)]).toEqual([a, id, want.filter((w) => ids.indexOf(w) > ids.indexOf(id))]);
    }
  }

  test('a device moved to another agency leaves the first listing and joins the other at its registration place', async () => {
    const pki = t.pki;
    const psb = await pki.agency('psb.example');
    const env = await pki.agency('env.example');
    const devices: Device[] = [];
    for (let i = 0; i < 6; i++) devices.push(await pki.device(i % 3 === 2 ? env : psb));
    await register(t.gw, psb, devices.filter((_, i) => i % 3 !== 2));
    await register(t.gw, env, devices.filter((_, i) => i % 3 === 2));
    // registration order: psb's first, then env's (register posts the agency, then its devices in order)
    ids.push(...devices.filter((_, i) => i % 3 !== 2).map((d) => d.id), ...devices.filter((_, i) => i % 3 === 2).map((d) => d.id));
    await expectAsDefined(['psb.example', 'env.example']);
    expect(oracle('psb.example')).toHaveLength(4);

    const moved = devices[1]!;
    const release = await createRevocation(psb.signer, moved.cert, { reason: 'affiliationChanged', revokedFrom: nowS() - 1, iat: nowS() });
    expect((await post(t.gw, '/v1/revocations', { revocation: toBase64(release) })).status).toBe(201);
    expect((await post(t.gw, '/v1/devices', { certificate: toBase64((await certify(env, moved, 'device', nowS())).bytes) })).status).toBe(201);
    expect(oracle('env.example')[0]).toBe(moved.id); // registered before env's own devices
    await expectAsDefined(['psb.example', 'env.example']);

    // The same after a restart (the view rebuilt from the log).
    await t.gw.registry.load();
    await expectAsDefined(['psb.example', 'env.example']);

    // psb.example's key registered again as psb2.example, as a log written before renames were refused holds it.
    const renamed = await certify(pki.root, psb, 'agency', nowS(), 'psb2.example');
    await t.gw.ledger.ledger.appendBlock([{ type: ENTRY_AGENCY_REGISTRATION, payload: renamed.bytes, receivedAtMs: Date.now() }]);
    await t.gw.registry.load();
    expect(oracle('psb2.example')).toHaveLength(3);
    await expectAsDefined(['psb.example', 'psb2.example', 'env.example']);
  });
});
