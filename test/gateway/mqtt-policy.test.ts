/** MQTT authentication and authorization: deny by default, CONNACK codes, topic spoofing, other devices' receipts. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import mqtt from 'mqtt';
import { connect as netConnect } from 'node:net';
import { createConnectToken, decodeConnectToken, receiptsTopic, readingsTopic, rejectionsTopic } from '../../protocol/index.js';
import { ALG_ES256 } from '../../protocol/index.js';
import { highSTwin } from '../protocol/high-s-twin.js';
import { connackCode, connectDevice, connectsRefused, freshToken, gatewayWithDevices, useGatewayWithDevices, nowS, Pki, reading, register, revoke, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';
import { connackCodeFor, CONNACK } from '../../gateway/mqtt/connack.js';
import { OriginProofError } from '../../protocol/errors.js';
import { plainMqttUrl } from '../../gateway/gateway.js';

/** The CONNACK code of a CONNECT with this client id, username and password. */
const connackOf = (t: TestGateway, clientId: string, username: string, password?: Uint8Array) => connackCode(plainMqttUrl(t.gw), clientId, password, username);

describe('MQTT authentication (CONNACK return codes, MQTT 3.1.1 §3.2.2.3)', () => {
  let t: TestGateway;
  let agency: Party;
  let a: Device;
  let b: Device;
  let unregistered: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
    agency = await pki.agency('psb.example');
    a = await pki.device(agency);
    b = await pki.device(agency);
    unregistered = await pki.device(agency);
    await register(t.gw, agency, [a, b]);
  });
  afterAll(() => t.stop());

  const token = (d: Device, iat?: number, exp?: number, sub?: string) =>
    iat === undefined && exp === undefined && sub === undefined ? freshToken(d) : createConnectToken(d.signer, { aud: 'originproof', iat: iat ?? nowS(), exp: exp ?? nowS() + 300, ...(sub ? { sub } : {}) });

  test('a registered device with a fresh token connects', async () => {
    expect(await connackOf(t, a.id, a.id, await token(a))).toBe(0);
  });

  test('an unregistered device is not authorized (5)', async () => {
    expect(await connackOf(t, unregistered.id, unregistered.id, await token(unregistered))).toBe(CONNACK.NOT_AUTHORIZED);
  });

  test('no token, a garbage token, an expired token: bad credentials (4)', async () => {
    expect(await connackOf(t, a.id, a.id)).toBe(CONNACK.BAD_CREDENTIALS);
    expect(await connackOf(t, a.id, a.id, new Uint8Array([1, 2, 3]))).toBe(CONNACK.BAD_CREDENTIALS);
    expect(await connackOf(t, a.id, a.id, await token(a, nowS() - 900, nowS() - 600))).toBe(CONNACK.BAD_CREDENTIALS);
  });

  test("connecting with another device's id fails (its token cannot be made without its key)", async () => {
    expect(await connackOf(t, b.id, b.id, await token(a, nowS(), nowS() + 300, b.id))).toBe(CONNACK.BAD_CREDENTIALS);
    expect(await connackOf(t, b.id, b.id, await token(a))).toBe(CONNACK.BAD_CREDENTIALS);
  });

  const refused = (code: string) => connectsRefused(t.gw, code);

  test('REPLAY: a token is accepted once and only if dated later than the last accepted; the same token again, an older one or an ECDSA re-encoding is bad credentials (4)', async () => {
    const replays = await refused('REPLAY');
    const tok = await freshToken(a);
    expect(await connackOf(t, a.id, a.id, tok)).toBe(0);
    expect(await connackOf(t, a.id, a.id, tok)).toBe(CONNACK.BAD_CREDENTIALS);
    expect(await refused('REPLAY')).toBe(replays + 1);
    const iat = decodeConnectToken(tok).claims.iat;
    const older = await createConnectToken(a.signer, { aud: 'originproof', iat: iat - 1, exp: iat + 299 }); // never used, but dated earlier
    expect(await connackOf(t, a.id, a.id, older)).toBe(CONNACK.BAD_CREDENTIALS);
    expect(await refused('REPLAY')).toBe(replays + 2);
    expect(await connackOf(t, a.id, a.id, await freshToken(a))).toBe(0); // a fresh one is fine
    // ES256: s -> n - s makes other token bytes that verify; they are the same token
    const es = await t.pki.device(agency, { alg: ALG_ES256 });
    await register(t.gw, agency, [es]);
    const esTok = await freshToken(es);
    const twin = highSTwin(esTok);
    expect(await connackOf(t, es.id, es.id, esTok)).toBe(0);
    expect(await connackOf(t, es.id, es.id, twin)).toBe(CONNACK.BAD_CREDENTIALS);
    expect(await refused('REPLAY')).toBe(replays + 3);
    expect(connackCodeFor(new OriginProofError('REPLAY', 'used'))).toBe(CONNACK.BAD_CREDENTIALS);
  });

  test('MQTT 5 and MQTT 3.1 are refused: unacceptable protocol version (1); devices speak 3.1.1 (SPEC §4)', async () => {
    // aedes refuses 5 itself; 3.1 (protocol level 3, "MQIsdp") it took, with a valid token (found by review).
    for (const protocolVersion of [5, 3] as const) {
      let code = 0;
      try {
        const c = await mqtt.connectAsync(plainMqttUrl(t.gw), { clientId: a.id, username: a.id, password: Buffer.from(await token(a)), reconnectPeriod: 0, connectTimeout: 5000, protocolVersion, ...(protocolVersion === 3 ? { protocolId: 'MQIsdp' } : {}) });
        await c.endAsync(true);
      } catch (err) {
        code = (err as { code?: number }).code ?? -1;
      }
      expect(code, `protocol level ${protocolVersion}`).toBe(1);
    }
  });

  test('username other than the client id: identifier rejected (2)', async () => {
    expect(await connackOf(t, a.id, b.id, await token(a))).toBe(CONNACK.IDENTIFIER_REJECTED);
  });

  test('a revoked device is not authorized (5)', async () => {
    const c = await t.pki.device(agency);
    await register(t.gw, agency, [c]);
    expect((await revoke(t.gw, agency, c.cert, nowS() - 1)).status).toBe(201);
    expect(await connackOf(t, c.id, c.id, await token(c))).toBe(CONNACK.NOT_AUTHORIZED);
  });

  test('the codes behind each CONNACK', () => {
    const code = (c: ConstructorParameters<typeof OriginProofError>[0]) => connackCodeFor(new OriginProofError(c, 'x'));
    expect(code('UNKNOWN_DEVICE')).toBe(5);
    expect(code('CERT_REVOKED')).toBe(5);
    expect(code('CERT_EXPIRED')).toBe(5);
    expect(code('TOKEN_EXPIRED')).toBe(4);
    expect(code('BAD_SIGNATURE')).toBe(4);
    expect(code('MALFORMED')).toBe(4);
    expect(code('UNAVAILABLE')).toBe(3);
    expect(code('STORAGE_UNAVAILABLE')).toBe(3); // the token could not be recorded as used
  });
});

describe('connect tokens across a gateway restart (connect-token-order.ts)', () => {
  test('a token used before the restart and dated more than the skew before it is REPLAY after it; a fresh one connects', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { clockSkewSeconds: 1 });
    try {
      const agency = await pki.agency('psb.example');
      const d = await pki.device(agency);
      await register(t.gw, agency, [d]);
      const iat = nowS();
      const tok = await createConnectToken(d.signer, { aud: 'originproof', iat, exp: iat + 300 });
      expect(await connackOf(t, d.id, d.id, tok)).toBe(0);
      // restarted more than the skew (1 s) after the token's iat: the token is still within its lifetime
      await t.restart(async () => {
        while (nowS() < iat + 2) await new Promise((r) => setTimeout(r, 100));
      });
      let code = 'NO_ERROR';
      try {
        t.gw.authenticateDevice(d.id, tok);
      } catch (err) {
        code = err instanceof OriginProofError ? err.code : String(err);
      }
      expect(code).toBe('REPLAY');
      expect(await connackOf(t, d.id, d.id, tok)).toBe(CONNACK.BAD_CREDENTIALS);
      expect(await connackOf(t, d.id, d.id, await freshToken(d))).toBe(0);
    } finally {
      await t.stop();
    }
  });
});

describe('connect tokens are recorded as used in the store (connect-token-order.ts)', () => {
  test('a token used before a restart is REPLAY after it, though dated well within the skew; a fresh one connects; a second device\'s row is kept too', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki); // clock skew 300 s: the start floor alone would take both tokens again
    try {
      const agency = await pki.agency('psb.example');
      const [d, e] = [await pki.device(agency), await pki.device(agency)];
      await register(t.gw, agency, [d, e]);
      const [tokD, tokE] = [await freshToken(d), await freshToken(e)];
      // both CONNECTs in one turn: one group-committed write
      expect(await Promise.all([connackOf(t, d.id, d.id, tokD), connackOf(t, e.id, e.id, tokE)])).toEqual([0, 0]);
      await t.restart();
      const before = await connectsRefused(t.gw, 'REPLAY');
      expect(await connackOf(t, d.id, d.id, tokD)).toBe(CONNACK.BAD_CREDENTIALS);
      expect(await connackOf(t, e.id, e.id, tokE)).toBe(CONNACK.BAD_CREDENTIALS);
      expect(await connectsRefused(t.gw, 'REPLAY')).toBe(before + 2);
      expect(await connackOf(t, d.id, d.id, await freshToken(d))).toBe(0);
    } finally {
      await t.stop();
    }
  });
});

describe('MQTT authorization: own topics only', () => {
  let t: TestGateway;
  let a: Device;
  let b: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
    const agency = await pki.agency('psb.example');
    a = await pki.device(agency);
    b = await pki.device(agency);
    await register(t.gw, agency, [a, b]);
  });
  afterAll(() => t.stop());

  test("TOPIC_MISMATCH: publishing on another device's readings topic is rejected and the connection closed", async () => {
    const c = await connectDevice(t.gw, a);
    const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
    const before = t.gw.ledger.size();
    await c.client.publishAsync(readingsTopic(b.id), Buffer.from(await reading(a, 1)), { qos: 0 });
    const ans = await c.next();
    expect(ans.kind).toBe('rejection');
    if (ans.kind === 'rejection') expect(ans.rejection.code).toBe('TOPIC_MISMATCH');
    await closed;
    expect(t.gw.ledger.size()).toBe(before);
    await c.end();
  });

  test("TOPIC_MISMATCH: publishing a fake receipt on one's own receipts topic is refused too", async () => {
    const c = await connectDevice(t.gw, a);
    await c.client.publishAsync(receiptsTopic(a.id), Buffer.from([0xa0]), { qos: 0 });
    const ans = await c.next();
    expect(ans.kind === 'rejection' && ans.rejection.code).toBe('TOPIC_MISMATCH');
    await c.end();
  });

  // Its own readings topic too (mutant MQ2, broker.ts maySubscribe without `t.kind !== 'readings'`, granted it).
  test("subscribing to another device's receipts is denied (SUBACK 0x80), and wildcards and its own readings topic too", async () => {
    const c = await connectDevice(t.gw, a);
    let granted: number[] = [];
    try {
      granted = (await c.client.subscribeAsync([receiptsTopic(b.id), 'op/v1/d/+/receipts', '#', readingsTopic(a.id)], { qos: 1 })).map((g) => g.qos);
    } catch (err) {
      // mqtt.js reports a SUBACK of 0x80 as an error carrying the packet
      granted = (err as { packet?: { granted?: number[] } }).packet?.granted ?? [];
    }
    expect(granted).toEqual([128, 128, 128, 128]);
    await c.end();
  });

  test('a kept session holds only the subscriptions granted: refused topics sent beside the own ones are not stored', async () => {
    const persistence = (t.gw.broker.aedes as unknown as { persistence: { subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[] | null> } }).persistence;
    const stored = async () => ((await persistence.subscriptionsByClient({ id: a.id })) ?? []).map((x) => x.topic).sort();
    const junk = Array.from({ length: 50 }, (_, i) => `junk/${i}`);
    const own = [receiptsTopic(a.id), rejectionsTopic(a.id)];
    for (let round = 0; round < 2; round++) {
      const c = await mqtt.connectAsync(plainMqttUrl(t.gw), {
        clientId: a.id, username: a.id, password: Buffer.from(await freshToken(a)),
        clean: false, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4,
      });
      let granted: number[] = [];
      try {
        granted = (await c.subscribeAsync([...own, receiptsTopic(b.id), ...junk], { qos: 1 })).map((g) => g.qos);
      } catch (err) {
        granted = (err as { packet?: { granted?: number[] } }).packet?.granted ?? [];
      }
      expect(granted).toEqual([1, 1, 128, ...junk.map(() => 128)]);
      await c.endAsync();
      expect(await stored()).toEqual(own.sort()); // not 53, and not 106 after the second session
    }
  });

  test('a CONNECT carrying a will is not authorized (5): the broker would publish it after the device has gone', async () => {
    const before = t.gw.ledger.size();
    const tok = await freshToken(a);
    let code = 0;
    try {
      const c = await mqtt.connectAsync(plainMqttUrl(t.gw), {
        clientId: a.id, username: a.id, password: Buffer.from(tok), reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4,
        will: { topic: readingsTopic(a.id), payload: Buffer.from(await reading(a, 50)), qos: 1, retain: false },
      });
      await c.endAsync(true);
    } catch (err) {
      code = (err as { code?: number }).code ?? -1;
    }
    expect(code).toBe(CONNACK.NOT_AUTHORIZED);
    await new Promise((r) => setTimeout(r, 300));
    expect(t.gw.ledger.size()).toBe(before);
    const c = await connectDevice(t.gw, a); // the same device without a will is served
    await c.end();
  });
});

describe('MQTT answers', () => {
  test("answers go only to the device's own connection, and only once it subscribed; a resend then gets the receipt", async () => {
    const { t, devices } = await gatewayWithDevices(2);
    const [a, b] = devices as [Device, Device];
    try {
      const watcher = await connectDevice(t.gw, b); // another device, subscribed to its own answers
      const token = await freshToken(a);
      const bare = await mqtt.connectAsync(plainMqttUrl(t.gw), { clientId: a.id, username: a.id, password: Buffer.from(token), reconnectPeriod: 0, protocolVersion: 4 });
      const seen: string[] = [];
      bare.on('message', (topic) => seen.push(topic));
      const before = t.gw.ledger.size();
      const envelope = await reading(a, 1);
      await bare.publishAsync(readingsTopic(a.id), Buffer.from(envelope), { qos: 1 }); // PUBACK: taken
      const deadline = Date.now() + 5000;
      while (t.gw.ledger.size() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(t.gw.ledger.size()).toBe(before + 1); // accepted and stored...
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toEqual([]); // ...but nobody was told: a was not subscribed
      expect(watcher.answers).toEqual([]); // and b hears nothing of a's readings
      await bare.endAsync(true);
      const c = await connectDevice(t.gw, a);
      await c.publish(envelope); // the device kept it (no receipt yet) and resends it
      const ans = await c.next();
      expect(ans.kind === 'receipt' && ans.receipt.seq).toBe(1);
      expect(t.gw.ledger.size()).toBe(before + 1);
      // answers go straight to the connection: the granted subscriptions are in the session, not in aedes' router
      const matcher = (t.gw.broker.aedes as unknown as { mq: { _matcher: { match(topic: string): unknown[] } } }).mq._matcher;
      const session = (t.gw.broker.aedes as unknown as { clients: Record<string, { subscriptions: Record<string, unknown> }> }).clients[a.id]!;
      expect(Object.keys(session.subscriptions).sort()).toEqual([receiptsTopic(a.id), rejectionsTopic(a.id)].sort());
      expect(matcher.match(receiptsTopic(a.id))).toEqual([]);
      expect(matcher.match(rejectionsTopic(b.id))).toEqual([]);
      await c.end();
      await watcher.end();
    } finally {
      await t.stop();
    }
  });
});

describe('MQTT frame cap', () => {
  test('a frame far over the reading limit closes the connection before it is buffered; others carry on', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { maxReadingBytes: 1024 }); // frame cap 4 x 1024 + 1024
    const agency = await pki.agency('psb.example');
    const [a, b] = [await pki.device(agency), await pki.device(agency)];
    await register(t.gw, agency, [a, b]);
    const ca = await connectDevice(t.gw, a);
    const closed = new Promise<void>((resolve) => ca.client.once('close', () => resolve()));
    ca.client.publish(readingsTopic(a.id), Buffer.alloc(64 * 1024, 0xa0), { qos: 0 });
    await closed;
    const cb = await connectDevice(t.gw, b);
    await cb.publish(await reading(b, 1));
    expect((await cb.next()).kind).toBe('receipt');
    expect(t.gw.ledger.size()).toBe(4); // agency, two devices, b's reading
    await cb.end();
    await ca.end().catch(() => undefined);
    await t.stop();
  });
});

describe('resend and replay', () => {
  const fx = useGatewayWithDevices(1);

  test('the very same envelope sent again gets its original receipt and is stored once', async () => {
    const { t, dev: a } = fx;
    const c = await connectDevice(t.gw, a);
    const bytes = await reading(a, 7);
    await c.publish(bytes);
    await c.publish(bytes); // while the first may still be pending in its block
    const r1 = await c.next();
    const r2 = await c.next();
    await c.publish(bytes); // after it is durable
    const r3 = await c.next();
    expect([r1.kind, r2.kind, r3.kind]).toEqual(['receipt', 'receipt', 'receipt']);
    if (r1.kind === 'receipt' && r2.kind === 'receipt' && r3.kind === 'receipt') {
      expect(r2.receipt.index).toBe(r1.receipt.index);
      expect(r3.receipt.index).toBe(r1.receipt.index);
      expect(r3.receipt.leafHash).toEqual(r1.receipt.leafHash);
    }
    const list = await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${a.id}/entries` });
    expect(list.json().entries).toHaveLength(1);
    await c.end();
  });

  test('after a gateway restart, a resend still gets the original receipt (sequence state is persisted)', async () => {
    const { t, dev: a } = fx;
    let c = await connectDevice(t.gw, a);
    const bytes = await reading(a, 8);
    await c.publish(bytes);
    const first = await c.next();
    await c.end();
    await t.restart();
    c = await connectDevice(t.gw, a);
    await c.publish(bytes);
    const again = await c.next();
    expect(first.kind === 'receipt' && again.kind === 'receipt' && again.receipt.index === first.receipt.index).toBe(true);
    await c.publish(await reading(a, 8, { body: { kind: 'sensor', type: 'temperature', value: 5, scale: 0, unit: 'Cel' } }));
    const replay = await c.next();
    expect(replay.kind === 'rejection' && replay.rejection.code).toBe('REPLAY');
    await c.end();
  });
});

describe('graceful shutdown', () => {
  test('pending readings are sealed, signed and receipted before the gateway closes; none is lost', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki);
    const agency = await pki.agency('psb.example');
    const a = await pki.device(agency);
    await register(t.gw, agency, [a]);
    await t.gw.close();
    // Same data, a long block timer: readings stay pending until shutdown seals the block.
    const t2 = await startTestGateway(pki, { blockMaxMs: 30_000, blockMaxEntries: 100_000 }, t.dir);
    const c = await connectDevice(t2.gw, a);
    for (let s = 1; s <= 5; s++) await c.publish(await reading(a, s));
    while (t2.gw.pipeline.queueDepth < 5) await new Promise((r) => setTimeout(r, 10));
    const before = t2.gw.ledger.size();
    const closing = t2.gw.close();
    const got = await Promise.all([1, 2, 3, 4, 5].map(() => c.next()));
    await closing;
    expect(got.map((g) => g.kind)).toEqual(['receipt', 'receipt', 'receipt', 'receipt', 'receipt']);
    await c.end().catch(() => undefined);
    const t3 = await startTestGateway(pki, {}, t.dir);
    expect(t3.gw.ledger.size()).toBe(before + 5);
    await t3.stop();
  });

  test('connections not authenticated yet (silent, half a CONNECT, half a WebSocket upgrade) do not hold the close up to the CONNECT timeout', async () => {
    const t = await startTestGateway(await Pki.create(), { wsPort: 0 }); // CONNECT timeout: the default 10 s
    const open = (url: string, bytes: Buffer | string) => {
      const s = netConnect(Number(new URL(url).port), '127.0.0.1', () => s.write(bytes));
      s.on('error', () => undefined);
      return s;
    };
    const sockets = [open(t.gw.mqttUrl!, ''), open(t.gw.mqttUrl!, Buffer.from([0x10, 0x40, 0x00])), open(t.gw.wsUrl!, 'GET / HTTP/1.1\r\n')];
    await new Promise((r) => setTimeout(r, 200));
    expect(t.gw.broker.pending.size).toBe(3);
    const t0 = Date.now();
    await t.stop();
    expect(Date.now() - t0).toBeLessThan(3000); // docker stop's grace period is 10 s, the CONNECT timeout as long
    for (const s of sockets) s.destroy();
  });
});
