/**
 * An address whose CONNECTs keep failing the device and token check is refused before it, CONNACK 3, until its budget
 * has refilled (`mqttConnectFailuresPerMinute`, gateway/mqtt/connect-failure-limit.ts): each such CONNECT for a
 * registered device cost a signature check on the event loop, as many a second as one client sent. The refused
 * token is not taken (SPEC §4), and CONNECTs that succeed never use the budget. The gateway runs on a clock the test
 * moves; its devices connect from 127.0.0.1 over plain MQTT and over WebSocket, one address.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { CONNACK } from '../../gateway/mqtt/connack.js';
import { MAX_FIELD_CHARS } from '../../gateway/event-log.js';
import type { Signer } from '../../protocol/algorithms.js';
import { connackCode, connectsRefused, freshToken, Pki, register, startTestGateway, type Device, type TestGateway } from './harness.js';

const ACCEPTED = 0; // CONNACK 0

/** A signer claiming `victim`'s key that signs with `key`'s. */
const forged = (victim: Device, key: Device): { signer: Signer } => ({ signer: { alg: victim.signer.alg, publicKey: victim.signer.publicKey, sign: (m) => key.signer.sign(m) } });

describe('refused CONNECTs per address', () => {
  let t: TestGateway;
  let d: Device;
  let other: Device;
  let offsetMs = 0;

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { mqttConnectFailuresPerMinute: 2, wsPort: 0 }, undefined, { now: () => Date.now() + offsetMs });
    const agency = await pki.agency('psb.example');
    d = await pki.device(agency);
    other = await pki.device(agency);
    await register(t.gw, agency, [d, other]);
  });
  afterAll(() => t?.stop());

  const connack = (device: Device, token: Uint8Array, url = plainMqttUrl(t.gw)) => connackCode(url, device.id, token);

  test('successful CONNECTs never use the budget', async () => {
    for (let i = 0; i < 5; i++) expect(await connack(d, await freshToken(d))).toBe(ACCEPTED);
  });

  test('past the budget, a CONNECT is refused with CONNACK 3 before its token is checked, on every listener', async () => {
    // tokens naming d's key, signed by another device's key: BAD_SIGNATURE, each a signature check
    expect(await connack(d, await freshToken(forged(d, other)))).toBe(CONNACK.BAD_CREDENTIALS);
    expect(await connack(d, await freshToken(forged(d, other)))).toBe(CONNACK.BAD_CREDENTIALS);
    const good = await freshToken(d);
    expect(await connack(d, good)).toBe(CONNACK.SERVER_UNAVAILABLE);
    expect(await connack(other, await freshToken(other), t.gw.wsUrl!)).toBe(CONNACK.SERVER_UNAVAILABLE);
    expect(await connectsRefused(t.gw, 'RATE_LIMITED')).toBe(2);
    expect(await connectsRefused(t.gw, 'BAD_SIGNATURE')).toBe(2);

    // 2 a minute: one refilled after 30 s. The token refused as limited was not taken: it still opens.
    offsetMs += 30_000;
    expect(await connack(d, good)).toBe(ACCEPTED);
    expect(await connectsRefused(t.gw, 'RATE_LIMITED')).toBe(2);
  });
});

describe('mqttConnectFailuresPerMinute 0', () => {
  test('is no limit', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { mqttConnectFailuresPerMinute: 0 });
    try {
      const agency = await pki.agency('psb.example');
      const [d, other] = [await pki.device(agency), await pki.device(agency)];
      await register(t.gw, agency, [d, other]);
      for (let i = 0; i < 5; i++) expect(await connackCode(plainMqttUrl(t.gw), d.id, await freshToken(forged(d, other)))).toBe(CONNACK.BAD_CREDENTIALS);
      expect(await connackCode(plainMqttUrl(t.gw), d.id, await freshToken(d))).toBe(ACCEPTED);
      expect(await connectsRefused(t.gw, 'RATE_LIMITED')).toBe(0);
    } finally {
      await t.stop();
    }
  });
});

/**
 * MQTT over WebSocket behind a reverse proxy: with the proxy's address in `trustProxy` (as for the HTTP API's rate
 * limits), the limit keys on the client X-Forwarded-For names; without it, on the connection's address, the header
 * ignored. Before, the WebSocket listener always keyed on the connection's: behind a proxy every device shared one
 * budget, which one client's failed CONNECTs spent for all (found with the HTTP API's trustProxy).
 */
describe('refused CONNECTs per address, MQTT over WebSocket behind a reverse proxy', () => {
  /** CONNACK code of a WebSocket CONNECT whose upgrade request says it was forwarded for `client`. */
  const wsConnack = (t: TestGateway, device: Device, token: Uint8Array, client: string) =>
    mqtt.connectAsync(t.gw.wsUrl!, { clientId: device.id, username: device.id, password: Buffer.from(token), reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, wsOptions: { headers: { 'X-Forwarded-For': client } } }).then(
      async (c) => (await c.endAsync(true), ACCEPTED),
      (err: { code?: number }) => err.code ?? -1,
    );

  test.each([
    ['the proxy trusted (trustProxy loopback): each forwarded client has its own budget', ['loopback'], ACCEPTED],
    ['no proxy trusted: the header is ignored, one budget for the connection address', null, CONNACK.SERVER_UNAVAILABLE],
  ] as const)('%s', async (_what, trustProxy, otherClient) => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { mqttConnectFailuresPerMinute: 2, wsPort: 0, trustProxy: trustProxy ? [...trustProxy] : null });
    try {
      const agency = await pki.agency('psb.example');
      const [d, other] = [await pki.device(agency), await pki.device(agency)];
      await register(t.gw, agency, [d, other]);
      for (let i = 0; i < 2; i++) expect(await wsConnack(t, d, await freshToken(forged(d, other)), '198.51.100.7')).toBe(CONNACK.BAD_CREDENTIALS);
      expect(await wsConnack(t, d, await freshToken(d), '198.51.100.7')).toBe(CONNACK.SERVER_UNAVAILABLE);
      expect(await wsConnack(t, other, await freshToken(other), '198.51.100.8')).toBe(otherClient);
    } finally {
      await t.stop();
    }
  });
});

/**
 * The line saying an address is refused for now names it as its budget is kept (connect-failure-limit.ts addressKey:
 * a text that is not an IP address by its first 64 characters), as a field too, never whole: behind a trusted proxy
 * the address is what X-Forwarded-For names, any text (found by review: spliced whole into the message).
 */
describe('the address limited, as X-Forwarded-For names it', () => {
  test('is logged once, by its budget\'s key (its first 64 characters), as a field and in the message', async () => {
    const pki = await Pki.create();
    const lines: Record<string, unknown>[] = [];
    const t = await startTestGateway(pki, { mqttConnectFailuresPerMinute: 1, wsPort: 0, trustProxy: ['loopback'], logLevel: 'warn', eventLogPerSecond: 0 }, undefined, { logStream: { write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
    try {
      const agency = await pki.agency('psb.example');
      const [d, other] = [await pki.device(agency), await pki.device(agency)];
      await register(t.gw, agency, [d, other]);
      const client = `not-an-address-${'x'.repeat(2000)}`;
      const connack = async () =>
        mqtt.connectAsync(t.gw.wsUrl!, { clientId: d.id, username: d.id, password: Buffer.from(await freshToken(forged(d, other))), reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, wsOptions: { headers: { 'X-Forwarded-For': client } } }).then(
          async (c) => (await c.endAsync(true), ACCEPTED),
          (err: { code?: number }) => err.code ?? -1,
        );
      expect(await connack()).toBe(CONNACK.BAD_CREDENTIALS);
      expect(await connack()).toBe(CONNACK.SERVER_UNAVAILABLE);
      const limited = lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('refused for now'));
      const cut = client.slice(0, 64);
      expect(cut.length).toBeLessThan(MAX_FIELD_CHARS);
      expect(limited).toEqual([expect.objectContaining({ level: 40, code: 'RATE_LIMITED', address: cut })]);
      expect(limited[0]!.msg).toContain(cut);
      expect(limited[0]!.msg).not.toContain(client);
    } finally {
      await t.stop();
    }
  });
});
