/**
 * The security event log (gateway/event-log.ts) on a real gateway: each event's line with its fields, read from the
 * gateway's own log (JSON lines); its bound under a flood (eventLogPerSecond); none at all with 0. Events are told by
 * `event` and `code`, never by message.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRevocation, readingsTopic, receiptsTopic, toBase64, toHex } from '../../protocol/index.js';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { MAX_FIELD_CHARS } from '../../gateway/event-log.js';
import { connackCode, connectDevice, freshToken, gatewayWithDevices, nowS, Pki, post, reading, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

type Line = Record<string, unknown> & { level: number; event?: string };
const WARN = 40;
const INFO = 30;

/** A test gateway logging at info into `lines`. */
async function loggingGateway(pki: Pki, lines: Line[], overrides: Record<string, unknown> = {}): Promise<TestGateway> {
  return startTestGateway(pki, { logLevel: 'info', ...overrides }, undefined, { logStream: { write: (line) => void lines.push(JSON.parse(line) as Line) } });
}

const eventsNamed = (lines: Line[], event: string) => lines.filter((l) => l.event === event);

/** Until `check` holds (lines are written as the gateway gets to them), at most 5 s. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

/** A reading whose signature was changed after signing: a forgery as the gateway sees it (BAD_SIGNATURE). */
async function forged(d: Device, seq: number): Promise<Uint8Array> {
  const bytes = Uint8Array.from(await reading(d, seq));
  bytes[bytes.length - 3]! ^= 0x40;
  return bytes;
}

describe('security events, each with its fields', () => {
  const lines: Line[] = [];
  let t: TestGateway;
  let agency: Party;
  let a: Device;
  let b: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await loggingGateway(pki, lines);
    agency = await pki.agency('env.example');
    a = await pki.device(agency);
    b = await pki.device(agency);
    await register(t.gw, agency, [a, b]);
  });
  afterAll(() => t.stop());

  test('agency_registered and device_registered name the ids, kid and certRef as the API shows them, and the entry index', async () => {
    const agencyLine = eventsNamed(lines, 'agency_registered');
    expect(agencyLine).toHaveLength(1);
    const agencyView = ((await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json() as { id: string; kid: string; certRef: string; registeredAt: number }[]).find((x) => x.id === 'env.example')!;
    expect(agencyLine[0]).toMatchObject({ level: INFO, agencyId: 'env.example', kid: agencyView.kid, certRef: agencyView.certRef, index: agencyView.registeredAt, address: '127.0.0.1' });
    const devices = eventsNamed(lines, 'device_registered');
    expect(devices.map((l) => l.deviceId)).toEqual([a.id, b.id]);
    const view = (await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${a.id}` })).json();
    expect(devices[0]).toMatchObject({ level: INFO, deviceId: a.id, agencyId: 'env.example', kid: view.kid, certRef: view.certRef, index: view.registeredAt });
  });

  test('a registration posted again (answered 200, already registered) logs nothing', async () => {
    const before = lines.length;
    const again = await post(t.gw, '/v1/devices', { certificate: toBase64(a.cert.bytes) });
    expect(again.status).toBe(200);
    expect(lines.slice(before).filter((l) => l.event !== undefined)).toEqual([]);
  });

  test('a forged reading: reading_rejected at warn, BAD_SIGNATURE, with the device id and seq', async () => {
    const c = await connectDevice(t.gw, a);
    await c.publish(await forged(a, 7));
    const answer = await c.next();
    expect(answer.kind === 'rejection' && answer.rejection.code).toBe('BAD_SIGNATURE');
    await c.end();
    await until(() => eventsNamed(lines, 'reading_rejected').length > 0);
    expect(eventsNamed(lines, 'reading_rejected')).toEqual([expect.objectContaining({ level: WARN, code: 'BAD_SIGNATURE', deviceId: a.id, seq: 7 })]);
  });

  test('a reading that is not CBOR: reading_rejected at info, MALFORMED, no seq', async () => {
    const before = lines.length;
    const c = await connectDevice(t.gw, a);
    await c.publish(new Uint8Array([0xff, 0x00]));
    expect(((await c.next()) as { rejection?: { code: string } }).rejection?.code).toBe('MALFORMED');
    await c.end();
    await until(() => eventsNamed(lines.slice(before), 'reading_rejected').length > 0);
    expect(eventsNamed(lines.slice(before), 'reading_rejected')).toEqual([expect.objectContaining({ level: INFO, code: 'MALFORMED', deviceId: a.id, seq: null })]);
  });

  test('mqtt_connected and mqtt_disconnected name the device and its address', async () => {
    const before = lines.length;
    const c = await connectDevice(t.gw, b);
    await until(() => eventsNamed(lines.slice(before), 'mqtt_connected').length > 0);
    await c.end();
    await until(() => eventsNamed(lines.slice(before), 'mqtt_disconnected').some((l) => l.deviceId === b.id));
    const ofB = lines.slice(before).filter((l) => l.deviceId === b.id); // a's earlier connection may be seen closing meanwhile
    expect(eventsNamed(ofB, 'mqtt_connected')).toEqual([expect.objectContaining({ level: INFO, address: '127.0.0.1' })]);
    expect(eventsNamed(ofB, 'mqtt_disconnected')).toEqual([expect.objectContaining({ level: INFO, address: '127.0.0.1' })]);
  });

  test('a CONNECT with a forged token: mqtt_connect_refused at warn, with its code, the client id and address', async () => {
    const before = lines.length;
    const token = Uint8Array.from(await freshToken(a));
    token[token.length - 3]! ^= 0x40; // in its signature
    expect(await connackCode(plainMqttUrl(t.gw), a.id, token)).toBe(4);
    await until(() => eventsNamed(lines.slice(before), 'mqtt_connect_refused').length > 0);
    expect(eventsNamed(lines.slice(before), 'mqtt_connect_refused')).toEqual([expect.objectContaining({ level: WARN, code: 'BAD_SIGNATURE', clientId: a.id, address: '127.0.0.1' })]);
  });

  test('a username other than the client id is logged as a field, cut to its bound, never in the message', async () => {
    const before = lines.length;
    const username = `"\n${'x'.repeat(1000)}`; // the whole CONNECT within the MQTT frame cap (5 KiB)
    expect(await connackCode(plainMqttUrl(t.gw), a.id, await freshToken(a), username)).toBe(2);
    await until(() => eventsNamed(lines.slice(before), 'mqtt_connect_refused').length > 0);
    const [line] = eventsNamed(lines.slice(before), 'mqtt_connect_refused');
    expect(line).toMatchObject({ level: WARN, code: 'USERNAME_MISMATCH', clientId: a.id });
    expect(line!.username).toBe(`${username.slice(0, MAX_FIELD_CHARS)}...(${username.length - MAX_FIELD_CHARS} more)`);
    expect(line!.msg).not.toContain('x');
  });

  test("a PUBLISH on another device's readings topic: mqtt_publish_refused at warn, with the device, the topic and why", async () => {
    const before = lines.length;
    const c = await connectDevice(t.gw, a);
    await c.client.publishAsync(readingsTopic(b.id), Buffer.from(await reading(a, 20)), { qos: 0 });
    expect(((await c.next()) as { rejection?: { code: string } }).rejection?.code).toBe('TOPIC_MISMATCH');
    await c.end();
    await until(() => eventsNamed(lines.slice(before), 'mqtt_publish_refused').length > 0);
    expect(eventsNamed(lines.slice(before), 'mqtt_publish_refused')).toEqual([expect.objectContaining({ level: WARN, deviceId: a.id, topic: readingsTopic(b.id), reason: 'topic_mismatch' })]);
  });

  test("a SUBSCRIBE to another device's receipts: mqtt_subscribe_refused at warn", async () => {
    const before = lines.length;
    const c = await connectDevice(t.gw, a);
    await c.client.subscribeAsync(receiptsTopic(b.id), { qos: 1 }).catch(() => undefined); // SUBACK 0x80
    await c.end();
    expect(eventsNamed(lines.slice(before), 'mqtt_subscribe_refused')).toEqual([expect.objectContaining({ level: WARN, deviceId: a.id, topic: receiptsTopic(b.id) })]);
  });

  test('revocation_registered names the certRef, subject, reason and entry index; the same statement again logs nothing', async () => {
    const before = lines.length;
    const statement = { revocation: toBase64(await createRevocation(agency.signer, b.cert, { reason: 'keyCompromise', revokedFrom: nowS() - 10, iat: nowS() })) };
    const res = await post(t.gw, '/v1/revocations', statement);
    expect(res.status).toBe(201);
    expect(await post(t.gw, '/v1/revocations', statement)).toMatchObject({ status: 200, body: { index: res.body.index } });
    expect(eventsNamed(lines.slice(before), 'revocation_registered')).toEqual([
      expect.objectContaining({ level: INFO, certRef: toHex(b.cert.certRef), sub: b.id, reason: 'keyCompromise', index: res.body.index }),
    ]);
  });
});

describe('registry writes refused, and an HTTP client address behind a trusted proxy', () => {
  const lines: Line[] = [];
  let t: TestGateway;
  let pki: Pki;
  let mine: Party;
  let theirs: Party;
  let d: Device;
  beforeAll(async () => {
    pki = await Pki.create();
    t = await loggingGateway(pki, lines, { trustProxy: ['127.0.0.1'] });
    mine = await pki.agency('mine.example');
    theirs = await pki.agency('theirs.example');
    d = await pki.device(theirs);
    await register(t.gw, mine, []);
    await register(t.gw, theirs, [d]);
  });
  afterAll(() => t.stop());

  const refusals = (from: number) => eventsNamed(lines.slice(from), 'registry_write_refused');

  test("an agency's certificate posted as a device's: registry_write_refused at warn, ROLE_VIOLATION, with the address", async () => {
    const before = lines.length;
    expect((await post(t.gw, '/v1/devices', { certificate: toBase64(mine.cert.bytes) })).body.code).toBe('ROLE_VIOLATION');
    expect(refusals(before)).toEqual([expect.objectContaining({ level: WARN, what: 'device', code: 'ROLE_VIOLATION', address: '127.0.0.1' })]);
  });

  test("a revocation whose signature was altered: warn, BAD_SIGNATURE", async () => {
    const before = lines.length;
    const bytes = Uint8Array.from(await createRevocation(theirs.signer, d.cert, { reason: 'keyCompromise', revokedFrom: nowS(), iat: nowS() }));
    bytes[bytes.length - 3]! ^= 0x40; // in its signature
    expect((await post(t.gw, '/v1/revocations', { revocation: toBase64(bytes) })).body.code).toBe('BAD_SIGNATURE');
    expect(refusals(before)).toEqual([expect.objectContaining({ level: WARN, what: 'revocation', code: 'BAD_SIGNATURE' })]);
  });

  test('a device certificate of an agency not registered: warn, CHAIN_INVALID', async () => {
    const before = lines.length;
    const stranger = await pki.device(await pki.agency('stranger.example'));
    expect((await post(t.gw, '/v1/devices', { certificate: toBase64(stranger.cert.bytes) })).body.code).toBe('CHAIN_INVALID');
    expect(refusals(before)).toEqual([expect.objectContaining({ level: WARN, what: 'device', code: 'CHAIN_INVALID' })]);
  });

  test('a certificate that is no certificate: info, MALFORMED', async () => {
    const before = lines.length;
    expect((await post(t.gw, '/v1/agencies', { certificate: 'AAAA' })).body.code).toBe('MALFORMED');
    expect(refusals(before)).toEqual([expect.objectContaining({ level: INFO, what: 'agency', code: 'MALFORMED' })]);
  });

  test('the address X-Forwarded-For names is cut to its bound, in a registration and in a refusal', async () => {
    const before = lines.length;
    const address = `"\n${'a'.repeat(2000)}`;
    const inject = (url: string, payload: object) => t.gw.app.inject({ method: 'POST', url, payload, remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': address } });
    const other = await pki.device(theirs);
    expect((await inject('/v1/devices', { certificate: toBase64(other.cert.bytes) })).statusCode).toBe(201);
    expect((await inject('/v1/devices', { certificate: 'AAAA' })).statusCode).toBe(400);
    const cut = `${address.slice(0, MAX_FIELD_CHARS)}...(${address.length - MAX_FIELD_CHARS} more)`;
    expect(eventsNamed(lines.slice(before), 'device_registered')).toEqual([expect.objectContaining({ deviceId: other.id, address: cut })]);
    expect(refusals(before)).toEqual([expect.objectContaining({ code: 'MALFORMED', address: cut })]);
  });
});

/** `count` readings that are not CBOR from `d`, at once; resolves when all are answered. */
async function junkFlood(t: TestGateway, d: Device, count: number): Promise<void> {
  const c = await connectDevice(t.gw, d);
  for (let i = 0; i < count; i++) c.client.publish(readingsTopic(d.id), Buffer.from([0xff, i & 0xff]), { qos: 0 });
  await until(() => c.answers.length >= count);
  for (let i = 0; i < 20 && c.answers.length < count; i++) await until(() => c.answers.length >= count);
  expect(c.answers.length).toBe(count);
  await c.end();
}

/** A logging gateway (as loggingGateway) with `count` devices of one agency registered. */
async function loggingFleet(lines: Line[], count: number, overrides: Record<string, unknown>): Promise<{ t: TestGateway; devices: Device[] }> {
  return gatewayWithDevices(count, { logLevel: 'info', ...overrides }, 'env.example', { runtime: { logStream: { write: (line) => void lines.push(JSON.parse(line) as Line) } } });
}

describe('a flood of junk readings from one device (eventLogPerSecond 50)', () => {
  const lines: Line[] = [];
  let t: TestGateway;
  let d: Device;
  beforeAll(async () => {
    let devices: Device[];
    ({ t, devices } = await loggingFleet(lines, 1, { eventLogPerSecond: 50 }));
    d = devices[0]!;
  });
  afterAll(() => t.stop());

  test('5,000 rejections give at most the bucket and its refill in lines; events_suppressed lines count the rest', async () => {
    const startMs = Date.now();
    await junkFlood(t, d, 5000);
    const elapsedS = (Date.now() - startMs) / 1000;
    await t.stop(); // the last suppressed counts are written at shutdown
    const written = eventsNamed(lines, 'reading_rejected');
    const suppressed = eventsNamed(lines, 'events_suppressed');
    expect(suppressed.length).toBeGreaterThan(0);
    for (const s of suppressed) expect(s.level).toBe(WARN);
    const counted = suppressed.reduce((n, s) => n + ((s.suppressed as Record<string, number>).reading_rejected ?? 0), 0);
    expect(written.length + counted).toBe(5000);
    expect(written.length).toBeLessThanOrEqual(50 + Math.ceil(50 * elapsedS));
    // one events_suppressed line a second at most, and one more at shutdown
    expect(suppressed.length).toBeLessThanOrEqual(Math.ceil(elapsedS) + 2);
    // each names the device that flooded, with its count: every suppressed event is its (its disconnect too)
    for (const s of suppressed) {
      const top = s.top as { event: string; source: string; count: number }[];
      expect(top.filter((x) => x.event === 'reading_rejected')).toEqual([{ event: 'reading_rejected', source: d.id, count: (s.suppressed as Record<string, number>).reading_rejected }]);
      expect(top.every((x) => x.source === d.id)).toBe(true);
      expect(top.reduce((n, x) => n + x.count, 0)).toBe(s.total);
      expect(s.others).toBe(0);
    }
  });
});

describe('a flood of info events from one device, a forged reading from another (eventLogPerSecond 5)', () => {
  const lines: Line[] = [];
  let t: TestGateway;
  let flooder: Device;
  let forger: Device;
  beforeAll(async () => {
    let devices: Device[];
    ({ t, devices } = await loggingFleet(lines, 2, { eventLogPerSecond: 5 }));
    [flooder, forger] = devices as [Device, Device];
  });
  afterAll(() => t.stop());

  test('the warnings have a bucket of their own: the forgery is logged with its device; the suppressed junk names the flooder', async () => {
    const c = await connectDevice(t.gw, forger);
    await new Promise((r) => setTimeout(r, 1100)); // both buckets full again after the registrations and the connect
    await junkFlood(t, flooder, 500); // MALFORMED: info, ~500 over the info bucket
    await c.publish(await forged(forger, 9));
    expect((await c.next()).kind).toBe('rejection');
    await c.end();
    await t.stop();
    expect(eventsNamed(lines, 'reading_rejected').filter((l) => l.code === 'BAD_SIGNATURE')).toEqual([
      expect.objectContaining({ level: WARN, deviceId: forger.id, seq: 9 }),
    ]);
    const suppressed = eventsNamed(lines, 'events_suppressed');
    const junk = suppressed.flatMap((s) => s.top as { event: string; source: string; count: number }[]).filter((x) => x.source === flooder.id);
    expect(junk.reduce((n, x) => n + x.count, 0)).toBeGreaterThan(400);
    for (const s of suppressed) expect((s.top as { count: number }[]).reduce((n, x) => n + x.count, 0) + (s.others as number)).toBe(s.total);
  });
});

describe('eventLogPerSecond 0', () => {
  const lines: Line[] = [];
  let t: TestGateway;
  afterAll(() => t.stop());

  test('no event is logged: no registration, rejection, refused CONNECT or suppressed count', async () => {
    const fleet = await loggingFleet(lines, 2, { eventLogPerSecond: 0 });
    t = fleet.t;
    const [d, other] = fleet.devices as [Device, Device];
    expect(await connackCode(plainMqttUrl(t.gw), d.id, await freshToken(other))).toBe(4); // CLAIM_INVALID: the token is other's
    const c = await connectDevice(t.gw, d);
    await c.publish(await forged(d, 3));
    await c.next();
    await c.end();
    await junkFlood(t, d, 300);
    await t.stop();
    expect(lines.length).toBeGreaterThan(0); // the gateway did log (its start, its requests)
    expect(lines.filter((l) => l.event !== undefined)).toEqual([]);
  });
});

describe('events below logLevel (warn)', () => {
  const lines: Line[] = [];
  let t: TestGateway;
  afterAll(() => t.stop());

  test('take no place in the bucket: after info events (connections) a forged reading is still logged, at eventLogPerSecond 1', async () => {
    const fleet = await loggingFleet(lines, 1, { logLevel: 'warn', eventLogPerSecond: 1 });
    t = fleet.t;
    const d = fleet.devices[0]!;
    await new Promise((r) => setTimeout(r, 1100)); // the bucket full again
    for (let i = 0; i < 3; i++) await (await connectDevice(t.gw, d)).end(); // mqtt_connected, mqtt_disconnected: info
    const c = await connectDevice(t.gw, d);
    await c.publish(await forged(d, 5));
    await c.next();
    await c.end();
    await until(() => eventsNamed(lines, 'reading_rejected').length > 0);
    expect(eventsNamed(lines, 'reading_rejected')).toEqual([expect.objectContaining({ level: WARN, code: 'BAD_SIGNATURE', seq: 5 })]);
    expect(lines.filter((l) => l.event === 'mqtt_connected' || l.event === 'events_suppressed')).toEqual([]);
  });
});
