/** The HTTP API through Fastify's inject(): registry writes and their error codes, records, proofs, verdicts, ops. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  toBase64, fromBase64, decodeProofBundle, verifyBundle, parseTrust, openCheckpoint, parseVerifierKey, verifyConsistency,
  verifyInclusion, fromHex, issueCertificate, createSign1, encode, CT_REVOCATION, nobleSigner, generateSecretKey, ALG_EDDSA, decodeCertificate,
  deviceIdFromKey, deviceIdToHex, createRevocation,
} from '../../protocol/index.js';
import { certify, connectDevice, gatewayWithDevices, kidOf, nowS, Pki, post, pubOf, reading, register, revoke, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';
import { loadConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import { join } from 'node:path';
import { ALL_ERROR_CODES, HTTP_STATUS } from '../../gateway/http/error-registry.js';

describe('registry API', () => {
  let t: TestGateway;
  let psb: Party;
  let env: Party;
  let d1: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    psb = await pki.agency('psb.example');
    env = await pki.agency('env.example');
    d1 = await pki.device(psb);
  });
  afterAll(() => t.stop());

  test('registers an agency (201), and again is idempotent (200)', async () => {
    const a = await post(t.gw, '/v1/agencies', { certificate: toBase64(psb.cert.bytes) });
    expect(a.status).toBe(201);
    expect(a.body.id).toBe('psb.example');
    expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(psb.cert.bytes) })).status).toBe(200);
    expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(env.cert.bytes) })).status).toBe(201);
  });

  test('registers a device of a registered agency and shows it with its status', async () => {
    const r = await post(t.gw, '/v1/devices', { certificate: toBase64(d1.cert.bytes) });
    expect(r.status).toBe(201);
    expect(r.body.status).toBe('active');
    const one = await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d1.id}` });
    expect(one.json().agency).toBe('psb.example');
    const list = await t.gw.app.inject({ method: 'GET', url: '/v1/agencies/psb.example/devices' });
    expect(list.json().map((d: { deviceId: string }) => d.deviceId)).toEqual([d1.id]);
  });

  // routes/registry.ts (found by review): the listing had no bound; 10,000 devices took the event loop 0.4-0.7 s.
  test("an agency's device listing is paged: limit, after, and the x-next-after header while more follow", async () => {
    const more = [await t.pki.device(psb), await t.pki.device(psb)];
    for (const d of more) expect((await post(t.gw, '/v1/devices', { certificate: toBase64(d.cert.bytes) })).status).toBe(201);
    const all = (await t.gw.app.inject({ method: 'GET', url: '/v1/agencies/psb.example/devices' })).json().map((d: { deviceId: string }) => d.deviceId);
    expect(all.slice(-2)).toEqual(more.map((d) => d.id));
    const first = await t.gw.app.inject({ method: 'GET', url: '/v1/agencies/psb.example/devices?limit=2' });
    expect(first.json().map((d: { deviceId: string }) => d.deviceId)).toEqual(all.slice(0, 2));
    const next = first.headers['x-next-after'];
    expect(next).toBe(all[1]);
    const rest = await t.gw.app.inject({ method: 'GET', url: `/v1/agencies/psb.example/devices?limit=2&after=${next}` });
    expect(rest.json().map((d: { deviceId: string }) => d.deviceId)).toEqual(all.slice(2, 4));
    expect(rest.headers['x-next-after']).toBe(all.length > 4 ? all[3] : undefined);
    // A device that marks a client's place moves to another agency (released, then certified there) between two
    // pages: the next page is still the rest, not a BAD_REQUEST.
    const moved = more[0]!;
    const release = await createRevocation(psb.signer, moved.cert, { reason: 'affiliationChanged', revokedFrom: nowS() - 1, iat: nowS() });
    expect((await post(t.gw, '/v1/revocations', { revocation: toBase64(release) })).status).toBe(201);
    expect((await post(t.gw, '/v1/devices', { certificate: toBase64((await certify(env, moved, 'device', nowS())).bytes) })).status).toBe(201);
    const after = await t.gw.app.inject({ method: 'GET', url: `/v1/agencies/psb.example/devices?limit=2&after=${moved.id}` });
    expect([after.statusCode, after.json().map((d: { deviceId: string }) => d.deviceId)]).toEqual([200, all.slice(all.indexOf(moved.id) + 1)]);
    for (const q of ['limit=1001', 'limit=0', `after=${'0'.repeat(34)}`]) {
      const bad = await t.gw.app.inject({ method: 'GET', url: `/v1/agencies/psb.example/devices?${q}` });
      expect([bad.statusCode, bad.json().code], q).toEqual([400, 'BAD_REQUEST']);
    }
  });

  test('CHAIN_INVALID: a device whose agency is not registered', async () => {
    const rogueAgency = await t.pki.agency('rogue.example');
    const d = await t.pki.device(rogueAgency);
    const r = await post(t.gw, '/v1/devices', { certificate: toBase64(d.cert.bytes) });
    expect([r.status, r.body.code]).toEqual([422, 'CHAIN_INVALID']);
  });

  test('UNKNOWN_KEY: an agency certified by a root this gateway does not trust', async () => {
    const other = await Pki.create();
    const a = await other.agency('fake.example');
    const r = await post(t.gw, '/v1/agencies', { certificate: toBase64(a.cert.bytes) });
    expect([r.status, r.body.code]).toEqual([422, 'UNKNOWN_KEY']);
  });

  test('ROLE_VIOLATION: a device certificate sent as an agency, an agency that certifies an agency', async () => {
    expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(d1.cert.bytes) })).body.code).toBe('ROLE_VIOLATION');
    const sub = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const t0 = nowS();
    const bytes = await issueCertificate(psb.signer, kidOf(psb.signer), { iss: 'psb.example', sub: 'sub.example', role: 'agency', holderKey: pubOf(sub), iat: t0, nbf: t0 - 10, exp: t0 + 1000 });
    expect(decodeCertificate(bytes).claims.role).toBe('agency');
    expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(bytes) })).body.code).toBe('UNKNOWN_KEY');
    expect((await post(t.gw, '/v1/devices', { certificate: toBase64(bytes) })).body.code).toBe('ROLE_VIOLATION');
  });

  test('CLAIM_INVALID: a device certificate binding a small-order Ed25519 key (a key anyone could sign for)', async () => {
    const weak = { alg: ALG_EDDSA, raw: fromHex('01' + '00'.repeat(31)) } as const;
    const t0 = nowS();
    const bytes = await issueCertificate(psb.signer, kidOf(psb.signer), {
      iss: 'psb.example', sub: deviceIdToHex(deviceIdFromKey(weak)), role: 'device', holderKey: weak, iat: t0, nbf: t0 - 10, exp: t0 + 1000,
      profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: new Uint8Array(32) },
    });
    const r = await post(t.gw, '/v1/devices', { certificate: toBase64(bytes) });
    expect([r.status, r.body.code]).toEqual([422, 'CLAIM_INVALID']);
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${deviceIdToHex(deviceIdFromKey(weak))}` })).statusCode).toBe(404);
  });

  test("ROLE_VIOLATION: an agency cannot revoke another agency's device", async () => {
    // createRevocation refuses to sign for another issuer, so build the statement by hand as a rogue client would.
    const claims = new Map<number, unknown>([[1, d1.cert.certRef], [2, d1.cert.claims.sub], [3, 'keyCompromise'], [4, nowS()], [6, nowS()]]);
    const forged = await createSign1({ signer: env.signer, payload: encode(claims), kid: kidOf(env.signer), contentType: CT_REVOCATION });
    const r = await post(t.gw, '/v1/revocations', { revocation: toBase64(forged) });
    expect([r.status, r.body.code]).toEqual([403, 'ROLE_VIOLATION']);
    const still = await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d1.id}` });
    expect(still.json().status).toBe('active');
  });

  test('BAD_SIGNATURE: a revocation whose signature was altered', async () => {
    const d = await t.pki.device(psb);
    await register(t.gw, psb, [d]);
    const { createRevocation } = await import('../../protocol/index.js');
    const bytes = Uint8Array.from(await createRevocation(psb.signer, d.cert, { reason: 'decommissioned', revokedFrom: nowS(), iat: nowS() }));
    bytes[bytes.length - 2]! ^= 1;
    const r = await post(t.gw, '/v1/revocations', { revocation: toBase64(bytes) });
    expect(r.body.code).toBe('BAD_SIGNATURE');
  });

  test('restarted without the root in its trust file, a device shows untrusted and cannot connect (CONNACK 5)', async () => {
    const { t: u, devices } = await gatewayWithDevices(1);
    const d = devices[0]!;
    expect((await u.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('active');
    await u.gw.close();
    u.gw = await startGateway({ dataDir: join(u.dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, logLevel: 'silent', verifyWorkers: 1 });
    expect((await u.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('untrusted');
    await expect(connectDevice(u.gw, d)).rejects.toMatchObject({ code: 5 });
    await u.stop();
  });

  test('the root can revoke an agency; its devices then show agency-revoked', async () => {
    const a = await t.pki.agency('temp.example');
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const r = await revoke(t.gw, t.pki.root, a.cert, nowS() - 1, 'cessationOfOperation');
    expect(r.status).toBe(201);
    const shown = await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` });
    expect(shown.json().status).toBe('agency-revoked');
  });

  test('MALFORMED and BAD_REQUEST: bad base64, garbage CBOR, a body that does not match the schema', async () => {
    expect((await post(t.gw, '/v1/devices', { certificate: 'abc' })).body.code).toBe('MALFORMED'); // not base64 (length)
    expect((await post(t.gw, '/v1/devices', { certificate: 'no spaces' })).body.code).toBe('BAD_REQUEST'); // schema pattern
    expect((await post(t.gw, '/v1/devices', { certificate: 'AAAA' })).body.code).toBe('MALFORMED');
    expect((await post(t.gw, '/v1/devices', { cert: 'AAAA' })).body.code).toBe('BAD_REQUEST');
    const huge = await t.gw.app.inject({ method: 'POST', url: '/v1/devices', payload: { certificate: 'A'.repeat(2_000_000) } });
    expect([huge.statusCode, huge.json().code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  test('a body that is not JSON is 415 BAD_REQUEST, whatever its content type (text/plain included)', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/octet-stream', 'application/cbor']) {
      const r = await t.gw.app.inject({ method: 'POST', url: '/v1/devices', headers: { 'content-type': type }, payload: 'x' });
      expect([type, r.statusCode, r.json().code]).toEqual([type, 415, 'BAD_REQUEST']);
    }
  });

  test('NOT_FOUND: unknown device, agency, entry, route', async () => {
    for (const url of ['/v1/devices/01' + '0'.repeat(32), '/v1/agencies/nobody/devices', '/v1/entries/999999', '/v1/nope']) {
      const r = await t.gw.app.inject({ method: 'GET', url });
      expect([r.statusCode, r.json().code]).toEqual([404, 'NOT_FOUND']);
    }
  });

  test('every error code has an HTTP status in the one registry', () => {
    for (const code of ALL_ERROR_CODES) expect(HTTP_STATUS[code]).toBeGreaterThanOrEqual(400);
  });
});

describe('rate limits on writes', () => {
  test('RATE_LIMITED after the configured writes per minute', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { writeRateLimit: 3 });
    const a = await pki.agency('psb.example');
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await post(t.gw, '/v1/agencies', { certificate: toBase64(a.cert.bytes) })).status);
    expect(codes.slice(0, 3)).toEqual([201, 200, 200]);
    const r = await post(t.gw, '/v1/agencies', { certificate: toBase64(a.cert.bytes) });
    expect([r.status, r.body.code]).toEqual([429, 'RATE_LIMITED']);
    // reads are not limited
    expect((await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).statusCode).toBe(200);
    await t.stop();
  });
});

describe('records, proofs and verdicts', () => {
  let t: TestGateway;
  let dev: Device;
  const receipts: { index: number; seq: number }[] = [];
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
    const agency = await pki.agency('env.example');
    dev = await pki.device(agency);
    await register(t.gw, agency, [dev]);
    const c = await connectDevice(t.gw, dev);
    for (let s = 1; s <= 6; s++) {
      await c.publish(await reading(dev, s));
      const a = await c.next();
      if (a.kind === 'receipt') receipts.push({ index: a.receipt.index, seq: s });
    }
    await c.end();
  });
  afterAll(() => t.stop());

  const trust = () => parseTrust({ roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [t.gw.checkpointVerifierKey] });

  test('an entry by index shows the decoded reading', async () => {
    const r = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${receipts[0]!.index}` });
    expect(r.json().type).toBe('reading');
    expect(r.json().reading).toMatchObject({ deviceId: dev.id, seq: 1, body: { kind: 'sensor', type: 'temperature' } });
  });

  test("a device's entries, paginated by sequence number", async () => {
    const p1 = (await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${dev.id}/entries?limit=4` })).json();
    expect(p1.entries.map((e: { reading: { seq: number } }) => e.reading.seq)).toEqual([1, 2, 3, 4]);
    const p2 = (await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${dev.id}/entries?limit=4&after=${p1.next}` })).json();
    expect(p2.entries.map((e: { reading: { seq: number } }) => e.reading.seq)).toEqual([5, 6]);
    expect(p2.next).toBeNull();
  });

  test('entries by time range', async () => {
    const r = (await t.gw.app.inject({ method: 'GET', url: `/v1/entries?fromMs=0&toMs=${Date.now() + 1000}&limit=100` })).json();
    expect(r.entries.length).toBe(t.gw.ledger.size());
  });

  test('a proof bundle (CBOR and JSON view) verifies offline with only the root key and the checkpoint key', async () => {
    const idx = receipts[2]!.index;
    const cbor = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${idx}/bundle` });
    expect(cbor.headers['content-type']).toContain('application/cbor');
    const verdict = verifyBundle(decodeProofBundle(new Uint8Array(cbor.rawPayload)), trust());
    expect(verdict.checks.filter((c) => c.status !== 'pass').map((c) => c.name)).toEqual(['consistency']);
    expect(verdict.valid).toBe(true);
    const json = (await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${idx}/bundle?format=json` })).json();
    expect(fromBase64(json.entry)).toEqual(decodeProofBundle(new Uint8Array(cbor.rawPayload)).entry);
  });

  // Found by the OpenAPI review: a client generated from /docs/json sends `Accept: application/json` and got CBOR.
  test('the bundle by Accept: JSON where application/json is preferred; CBOR for wildcards, a browser and none; ?format wins', async () => {
    const idx = receipts[2]!.index;
    const typeFor = async (accept: string | undefined, query = '') => {
      const r = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${idx}/bundle${query}`, headers: accept === undefined ? {} : { accept } });
      expect(r.statusCode).toBe(200);
      expect(r.headers.vary).toBe('Accept');
      return String(r.headers['content-type']).split(';')[0];
    };
    expect(await typeFor('application/json')).toBe('application/json');
    expect(await typeFor('application/json, application/cbor;q=0.5')).toBe('application/json');
    expect(await typeFor('application/cbor;q=0.9, application/json;q=0.1')).toBe('application/cbor');
    expect(await typeFor('*/*')).toBe('application/cbor');
    expect(await typeFor('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe('application/cbor');
    expect(await typeFor(undefined)).toBe('application/cbor');
    expect(await typeFor('application/json', '?format=cbor')).toBe('application/cbor');
    expect(await typeFor('application/cbor', '?format=json')).toBe('application/json');
  });

  test('checkpoints, inclusion and consistency proofs check out against the checkpoint key', async () => {
    const key = parseVerifierKey(t.gw.checkpointVerifierKey);
    const latest = (await t.gw.app.inject({ method: 'GET', url: '/v1/checkpoints/latest' })).body;
    const cp = openCheckpoint(latest, [key]);
    expect(cp.size).toBe(t.gw.ledger.size());
    const early = openCheckpoint((await t.gw.app.inject({ method: 'GET', url: '/v1/checkpoints/2' })).body, [key]);
    const cons = (await t.gw.app.inject({ method: 'GET', url: `/v1/proofs/consistency?from=2&to=${cp.size}` })).json();
    verifyConsistency(2, cp.size, cons.proof.map(fromBase64), early.root, cp.root);
    const inc = (await t.gw.app.inject({ method: 'GET', url: `/v1/proofs/inclusion?index=${receipts[0]!.index}` })).json();
    verifyInclusion(inc.index, inc.treeSize, fromHex(inc.leafHash), inc.proof.map(fromBase64), cp.root);
    const block = (await t.gw.app.inject({ method: 'GET', url: '/v1/blocks/0' })).json();
    expect(block.height).toBe(0);
  });

  test('POST /v1/verify: a verdict on a bundle and on an envelope', async () => {
    const cbor = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${receipts[1]!.index}/bundle` });
    const v = (await post(t.gw, '/v1/verify', { bundle: toBase64(new Uint8Array(cbor.rawPayload)) })).body as { valid: boolean };
    expect(v.valid).toBe(true);
    // An envelope the log does not hold: every check that can run passes, but it is not valid (not proven logged).
    const env = (await post(t.gw, '/v1/verify', { envelope: toBase64(await reading(dev, 99)) })).body as { valid: boolean; checks: { name: string; status: string }[] };
    expect(env.checks.map((c) => [c.name, c.status])).toEqual([
      ['signature', 'pass'], ['chain', 'pass'], ['revocation', 'pass'], ['claims', 'pass'], ['inclusion', 'skip'], ['checkpoint', 'skip'], ['consistency', 'skip'],
    ]);
    expect(env.valid).toBe(false);
    const bad = Uint8Array.from(await reading(dev, 100));
    bad[bad.length - 1]! ^= 1;
    const badV = (await post(t.gw, '/v1/verify', { envelope: toBase64(bad) })).body as { valid: boolean; checks: { code?: string }[] };
    expect(badV.valid).toBe(false);
    expect(badV.checks.map((c) => c.code)).toContain('BAD_SIGNATURE');
  });
});

describe('ops and config', () => {
  test('healthz, readyz, metrics and the OpenAPI description', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki);
    expect((await t.gw.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.gw.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
    const metrics = (await t.gw.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const m of ['originproof_readings_accepted_total', 'originproof_pipeline_seconds', 'originproof_pipeline_queue_depth', 'originproof_connected_devices', 'originproof_ledger_size']) {
      expect(metrics).toContain(m);
    }
    // without TLS the certificate expiry is absent, not 0 (an expiry alert would fire on it)
    expect(metrics).not.toContain('originproof_tls_certificate_expiry_seconds');
    const spec = (await t.gw.app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const p of ['/v1/agencies', '/v1/devices', '/v1/revocations', '/v1/entries/{index}/bundle', '/v1/verify', '/v1/checkpoints/latest']) expect(spec.paths).toHaveProperty([p]);
    // the routes that answer CBOR or a signed note say so, and list their errors (found by review: only "200" was)
    const content = (p: string, status: string) => Object.keys(spec.paths[p].get.responses[status]?.content ?? {});
    expect(content('/v1/entries/{index}/bundle', '200')).toEqual(['application/cbor', 'application/json']);
    for (const p of ['/v1/checkpoints/latest', '/v1/checkpoints/{treeSize}']) expect(content(p, '200')).toEqual(['text/plain']);
    for (const p of ['/v1/entries/{index}/bundle', '/v1/checkpoints/latest', '/v1/checkpoints/{treeSize}']) expect(content(p, '404')).toEqual(['application/json']);
    expect((await t.gw.app.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
    await t.stop();
  });

  test('originproof_blocks_total counts blocks and originproof_ledger_size is the tree size, whatever the readings per block', async () => {
    const { t, devices } = await gatewayWithDevices(1);
    const c = await connectDevice(t.gw, devices[0]!);
    // Three bursts, each of several readings, a block interval apart: a few blocks of several entries each.
    let seq = 0;
    for (let burst = 0; burst < 3; burst++) {
      const envs = await Promise.all([1, 2, 3, 4, 5].map(() => reading(devices[0]!, ++seq)));
      await Promise.all(envs.map((e) => c.publish(e)));
      for (let i = 0; i < envs.length; i++) expect((await c.next()).kind).toBe('receipt');
    }
    const latest = (await t.gw.app.inject({ method: 'GET', url: '/v1/blocks?limit=1' })).json() as { height: number; blocks: { treeSize: number }[] };
    const metrics = (await t.gw.app.inject({ method: 'GET', url: '/metrics' })).body;
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    // Registration events are entries in blocks too; the counter started with this gateway, as did the log.
    expect(value('originproof_blocks_total')).toBe(latest.height + 1);
    expect(latest.height + 1).toBeLessThan(latest.blocks[0]!.treeSize);
    expect(value('originproof_ledger_size')).toBe(latest.blocks[0]!.treeSize);
    await c.end();
    await t.stop();
  });

  test("GET /v1/log tells where devices connect: the running gateway's MQTT and WebSocket ports", async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { wsPort: 0 });
    const log = (await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json();
    expect(log.mqtt).toEqual({ port: t.gw.mqttPort, tlsPort: null, wsPort: Number(new URL(t.gw.wsUrl!).port), wsTls: false });
    expect(log.mqtt.port).toBeGreaterThan(0);
    await t.stop();
    const u = await startTestGateway(pki);
    expect((await u.gw.app.inject({ method: 'GET', url: '/v1/log' })).json().mqtt).toEqual({ port: u.gw.mqttPort, tlsPort: null, wsPort: null, wsTls: false });
    await u.stop();
  });

  test('a config that does not validate stops the start with a message naming each field', () => {
    expect(() => loadConfig({ httpPort: 'eighty' }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
    expect(() => loadConfig({}, { ORIGINPROOF_MQTT_PORT: '70000' })).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(/mqttPort/) }));
    expect(loadConfig({}, { ORIGINPROOF_HTTP_PORT: '9090', ORIGINPROOF_DATA_DIR: '/tmp/x' })).toMatchObject({ httpPort: 9090, dataDir: '/tmp/x', mqttPort: 1883 });
    expect(loadConfig({ httpPort: '7070' }, { ORIGINPROOF_HTTP_PORT: '9090' }).httpPort).toBe(7070);
    // an operator setting like the others (it had no variable: only a gateway started from code could change it)
    expect(loadConfig({}, { ORIGINPROOF_MAX_READING_BYTES: '2048' }).maxReadingBytes).toBe(2048);
    expect(() => loadConfig({}, { ORIGINPROOF_MAX_READING_BYTES: '255' })).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(/maxReadingBytes/) }));
  });

  // Found by the operator review: ORIGINPROOF_TRUST_FILE= (an unset variable in a unit file) started a gateway with no
  // trust file, which refuses every registration and device, with nothing said but "root(s) none" in the banner.
  test('an empty trust file name is refused, naming trustFile; absent, there is none', () => {
    expect(() => loadConfig({}, { ORIGINPROOF_TRUST_FILE: '' })).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(/trustFile/) }));
    expect(() => loadConfig({ trustFile: '' }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
    expect(loadConfig({}, {}).trustFile).toBeNull();
    expect(loadConfig({}, { ORIGINPROOF_TRUST_FILE: 'trust.json' }).trustFile).toBe('trust.json');
  });

  // Found by review: an empty port (ORIGINPROOF_MQTT_PORT=${UNSET} in a unit file) switched the listener off, so the
  // devices' plain MQTT port was gone without a word, while an empty file name was refused.
  test('an empty port is refused, naming the setting; off and none switch an optional listener off', () => {
    for (const [key, name] of [['mqttPort', 'ORIGINPROOF_MQTT_PORT'], ['mqttTlsPort', 'ORIGINPROOF_MQTT_TLS_PORT'], ['wsPort', 'ORIGINPROOF_WS_PORT'], ['httpPort', 'ORIGINPROOF_HTTP_PORT']] as const) {
      expect(() => loadConfig({}, { [name]: '' })).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringContaining(`${key}: `) }));
      expect(() => loadConfig({}, { [name]: '' })).toThrow(expect.objectContaining({ message: expect.stringMatching(new RegExp(`${key}: .*\\(got ""\\) \\(set by ${name}\\)`)) }));
      expect(() => loadConfig({ [key]: '' }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
    }
    expect(loadConfig({}, { ORIGINPROOF_WS_PORT: 'none', ORIGINPROOF_MQTT_TLS_PORT: 'off' })).toMatchObject({ mqttPort: 1883, wsPort: null, mqttTlsPort: null });
    expect(loadConfig({}, { ORIGINPROOF_MQTT_PORT: 'off', ORIGINPROOF_MQTT_TLS_PORT: '8883', ORIGINPROOF_TLS_CERT: 'c.pem', ORIGINPROOF_TLS_KEY: 'k.pem' })).toMatchObject({ mqttPort: null, mqttTlsPort: 8883 });
    expect(() => loadConfig({}, { ORIGINPROOF_HTTP_PORT: 'off' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('httpPort') }));
  });

  // Found walking README: TypeBox's own words for a value that fits no member of a union, "Expected union value",
  // told the operator nothing about what the setting takes.
  test('a value that fits none of a setting\'s forms is refused saying what each form takes', () => {
    const problem = (overrides: Record<string, unknown>, env: Record<string, string>): string => {
      try {
        loadConfig(overrides, env);
      } catch (err) {
        expect(err).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
        return (err as Error).message;
      }
      throw new Error('no refusal');
    };
    expect(problem({}, { ORIGINPROOF_MQTT_PORT: 'abc' })).toContain('mqttPort: expected an integer from 0 to 65535, or off');
    expect(problem({}, { ORIGINPROOF_TRUST_FILE: '' })).toContain('trustFile: expected a file name (not empty), or left unset (got "")');
    expect(problem({ logLevel: 'loud' }, {})).toContain('logLevel: expected "fatal", or "error", or "warn", or "info", or "debug", or "silent" (got "loud")');
    expect(problem({ ed25519Library: 'openssl' }, {})).toContain('ed25519Library: expected "auto", or "libsodium", or "node"');
    expect(problem({ tlsCertFile: '' }, {})).not.toContain('union');
  });

  test.each([
    ['clockSkewSeconds', 1, 86_400],
    ['maxReadingBytes', 256, 1_048_576],
    ['maxReadingAgeSeconds', 60, 31_536_000],
    ['queueHighWater', 1, 1_000_000],
    ['blockMaxMs', 1, 60_000],
  ] as const)('%s: taken at its bounds (%i, %i), refused one past either, naming the field', (key, min, max) => {
    expect(loadConfig({ [key]: min }, {})[key]).toBe(min);
    expect(loadConfig({ [key]: max }, {})[key]).toBe(max);
    for (const v of [min - 1, max + 1]) expect(() => loadConfig({ [key]: v }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(new RegExp(key)) }));
  });
});
