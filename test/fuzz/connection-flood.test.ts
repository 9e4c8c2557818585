/**
 * Connection floods against the real broker (aedes on an ephemeral port): thousands of bad connects (bad, forged or
 * missing tokens, unknown ids, mismatched usernames, junk bytes, half a CONNECT, silent sockets) are each refused
 * (the right CONNACK code, or closed) while good devices keep publishing and getting receipts, and a device that
 * connects mid-flood gets in. Then the two guards on their own: the CONNECT timeout and the cap on pending
 * connections (gateway/mqtt/pending-connections.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { connect as tcpConnect, type Socket } from 'node:net';
import { createConnectToken, generateSecretKey, nobleSigner, ALG_EDDSA } from '../../protocol/index.js';
import { CONNACK } from '../../gateway/mqtt/connack.js';
import { connectDevice, connectsRefused, nowS, Pki, reading, register, startTestGateway, type ConnectedDevice, type Device, type TestGateway } from '../gateway/harness.js';
import { attempt, pool, type AttemptOutcome, type BadConnect } from './flood-clients.js';
import { Tally } from '../../fuzz/oracle.js';
import { plainMqttUrl } from '../../gateway/gateway.js';

const FLOOD = Number(process.env.FUZZ_FLOOD ?? 2500);
const CONNECT_TIMEOUT_MS = 1000;

/** What each kind of bad connect may end as: its CONNACK refusal, or a closed socket (pushed out by the cap). */
const ALLOWED: Record<string, readonly AttemptOutcome[]> = {
  'bad-token': [`connack:${CONNACK.BAD_CREDENTIALS}`, 'closed'],
  'forged-token': [`connack:${CONNACK.BAD_CREDENTIALS}`, 'closed'],
  'no-token': [`connack:${CONNACK.BAD_CREDENTIALS}`, 'closed'],
  'unknown-id': [`connack:${CONNACK.NOT_AUTHORIZED}`, 'closed'],
  'id-mismatch': [`connack:${CONNACK.IDENTIFIER_REJECTED}`, 'closed'],
  garbage: ['closed'],
  'half-connect': ['closed'],
  silent: ['closed'],
};

function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => (cond() ? resolve() : Date.now() > deadline ? reject(new Error(`gave up waiting for ${what}`)) : setTimeout(tick, 10));
    tick();
  });
}

describe('MQTT connection flood', () => {
  let t: TestGateway;
  let agency: Awaited<ReturnType<Pki['agency']>>;
  let good: Device[];
  let latecomer: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    // No per-address budget here: every bad connect gets its own check (the budget, which would refuse most of them
    // unchecked, is the next suite's).
    t = await startTestGateway(pki, { mqttConnectTimeoutMs: CONNECT_TIMEOUT_MS, mqttMaxPendingConnections: 400, mqttConnectFailuresPerMinute: 0 });
    agency = await pki.agency('flood.example');
    good = [await pki.device(agency), await pki.device(agency), await pki.device(agency)];
    latecomer = await pki.device(agency);
    await register(t.gw, agency, [...good, latecomer]);
  });
  afterAll(() => t.stop());

  test(`${FLOOD} bad connects are all refused; good devices keep getting receipts; a device connecting mid-flood gets in`, async () => {
    const victim = good[0]!;
    const stranger = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const forged = await createConnectToken(stranger, { aud: 'originproof', iat: nowS(), exp: nowS() + 300, sub: victim.id });
    const hex = fc.stringMatching(/^01[0-9a-f]{32}$/);
    const bad: fc.Arbitrary<{ kind: string; connect: BadConnect }> = fc.oneof(
      { weight: 5, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }).map((password) => ({ kind: 'bad-token', connect: { kind: 'credentials' as const, clientId: victim.id, username: victim.id, password } })) },
      { weight: 2, arbitrary: fc.constant({ kind: 'forged-token', connect: { kind: 'credentials' as const, clientId: victim.id, username: victim.id, password: forged } }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'no-token', connect: { kind: 'credentials' as const, clientId: victim.id, username: victim.id } }) },
      { weight: 3, arbitrary: fc.tuple(hex, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([id, password]) => ({ kind: 'unknown-id', connect: { kind: 'credentials' as const, clientId: id, username: id, password } })) },
      { weight: 1, arbitrary: hex.map((other) => ({ kind: 'id-mismatch', connect: { kind: 'credentials' as const, clientId: victim.id, username: other, password: forged } })) },
      { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 512 }).map((bytes) => ({ kind: 'garbage', connect: { kind: 'garbage' as const, bytes } })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'half-connect', connect: { kind: 'half-connect' as const } }) },
      { weight: 2, arbitrary: fc.constant({ kind: 'silent', connect: { kind: 'silent' as const } }) },
    );
    const plan = fc.sample(bad, { numRuns: FLOOD, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) });

    // Good devices publish one reading after another for as long as the flood lasts.
    const devices: ConnectedDevice[] = await Promise.all(good.map((d) => connectDevice(t.gw, d)));
    let flooding = true;
    const duringFlood = good.map(() => 0);
    const publishers = devices.map(async (c, i) => {
      let seq = 0;
      while (flooding) {
        await c.publish(await reading(good[i]!, ++seq));
        const a = await c.next();
        if (a.kind !== 'receipt') throw new Error(`good device ${i} got ${a.rejection.code}`);
        if (flooding) duringFlood[i]!++;
      }
      return seq;
    });

    let launched = 0;
    const tasks = plan.map((p) => () => {
      launched++;
      return attempt(plainMqttUrl(t.gw), p.connect, 4 * CONNECT_TIMEOUT_MS + 5000);
    });
    const flood = pool(tasks, 200);
    await waitFor(() => launched >= plan.length / 2, 'half the flood to be under way');
    const late = await connectDevice(t.gw, latecomer); // throws if refused or dropped
    await late.publish(await reading(latecomer, 1));
    const lateAnswer = await late.next();
    const outcomes = await flood;
    flooding = false;
    const published = await Promise.all(publishers);

    const tally = new Tally();
    const wrong: string[] = [];
    plan.forEach((p, i) => {
      tally.add(`${p.kind} -> ${outcomes[i]}`);
      if (!ALLOWED[p.kind]!.includes(outcomes[i]!)) wrong.push(`${p.kind} -> ${outcomes[i]}`);
    });
    console.log(`${plan.length} bad connects:\n${tally.lines().join('\n')}\nreceipts during the flood per good device: ${duringFlood.join(', ')}; dropped by the pending cap: ${t.gw.broker.pending.droppedCount}`);
    expect(wrong).toEqual([]);
    expect(lateAnswer.kind).toBe('receipt');
    for (const n of duringFlood) expect(n).toBeGreaterThan(0);
    // Every reading published got a receipt, and nothing else reached the log.
    const registrations = 1 + good.length + 1; // the agency, the good devices, the latecomer
    expect(t.gw.ledger.size()).toBe(registrations + published.reduce((a, b) => a + b, 0) + 1);
    await Promise.all([...devices, late].map((c) => c.end()));
    await waitFor(() => t.gw.broker.pending.size === 0, 'every pending connection to be gone');
  });
});

describe('MQTT connection flood from one address, with the per-address budget (mqttConnectFailuresPerMinute)', () => {
  const FROM = '127.0.0.2'; // the flooding client; devices connect from 127.0.0.1
  const BUDGET = 60; // the default

  test('past the budget its CONNECTs are refused unchecked (CONNACK 3); devices on other addresses carry on', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { mqttConnectTimeoutMs: CONNECT_TIMEOUT_MS });
    const agency = await pki.agency('flood.example');
    const [dev, latecomer] = [await pki.device(agency), await pki.device(agency)];
    await register(t.gw, agency, [dev, latecomer]);
    const stranger = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const forged = await createConnectToken(stranger, { aud: 'originproof', iat: nowS(), exp: nowS() + 300, sub: dev.id });
    const hex = fc.stringMatching(/^01[0-9a-f]{32}$/);
    const bad = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 200 }).map((password) => ({ kind: 'bad-token', connect: { kind: 'credentials' as const, clientId: dev.id, username: dev.id, password } })),
      fc.constant({ kind: 'forged-token', connect: { kind: 'credentials' as const, clientId: dev.id, username: dev.id, password: forged } }),
      fc.tuple(hex, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([id, password]) => ({ kind: 'unknown-id', connect: { kind: 'credentials' as const, clientId: id, username: id, password } })),
    );
    const plan = fc.sample(bad, { numRuns: Math.min(FLOOD, 600), seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) });

    const c = await connectDevice(t.gw, dev);
    let flooding = true;
    const publisher = (async () => {
      let seq = 0;
      while (flooding) {
        await c.publish(await reading(dev, ++seq));
        const a = await c.next();
        if (a.kind !== 'receipt') throw new Error(`device got ${a.rejection.code}`);
      }
      return seq;
    })();
    const started = Date.now();
    let launched = 0;
    const flood = pool(plan.map((p) => () => (launched++, attempt(plainMqttUrl(t.gw), p.connect, 4 * CONNECT_TIMEOUT_MS + 5000, FROM))), 50);
    await waitFor(() => launched >= plan.length / 2, 'half the flood to be under way');
    const late = await connectDevice(t.gw, latecomer); // throws if refused
    await late.publish(await reading(latecomer, 1));
    expect((await late.next()).kind).toBe('receipt');
    const outcomes = await flood;
    const elapsedS = (Date.now() - started) / 1000;
    flooding = false;
    await publisher;

    const tally = new Tally();
    for (const o of outcomes) tally.add(o);
    console.log(`${plan.length} bad connects from ${FROM} in ${elapsedS.toFixed(1)} s:\n${tally.lines().join('\n')}`);
    const checked = outcomes.filter((o) => o === `connack:${CONNACK.BAD_CREDENTIALS}` || o === `connack:${CONNACK.NOT_AUTHORIZED}`).length;
    const limited = outcomes.filter((o) => o === `connack:${CONNACK.SERVER_UNAVAILABLE}`).length;
    expect(checked + limited).toBe(plan.length); // each refused, by its check or by the budget
    expect(checked).toBeLessThanOrEqual(BUDGET + Math.ceil((elapsedS * BUDGET) / 60));
    expect(await connectsRefused(t.gw, 'RATE_LIMITED')).toBe(limited);
    await Promise.all([c.end(), late.end()]);
    await t.stop();
  });
});

describe('MQTT connect guards', () => {
  /** Open `n` sockets that never send a byte; count those the broker closes. */
  async function silentSockets(url: string, n: number): Promise<{ sockets: Socket[]; closed: () => number }> {
    const { hostname, port } = new URL(url);
    let closed = 0;
    const sockets = await Promise.all(
      Array.from({ length: n }, () => new Promise<Socket>((resolve, reject) => {
        const s = tcpConnect({ host: hostname, port: Number(port) }, () => resolve(s));
        s.on('error', reject);
        s.on('close', () => closed++);
      })),
    );
    return { sockets, closed: () => closed };
  }

  test('over the cap, the oldest unauthenticated connections are dropped, and a device still connects', async () => {
    const pki = await Pki.create();
    // A CONNECT timeout far longer than the test: every close seen here is the cap at work.
    const t = await startTestGateway(pki, { mqttConnectTimeoutMs: 600_000, mqttMaxPendingConnections: 50 });
    const agency = await pki.agency('cap.example');
    const dev = await pki.device(agency);
    await register(t.gw, agency, [dev]);
    const { sockets, closed } = await silentSockets(plainMqttUrl(t.gw), 200);
    await waitFor(() => closed() === 150, '150 of 200 silent sockets to be dropped');
    expect(t.gw.broker.pending.size).toBe(50);
    expect(t.gw.broker.pending.droppedCount).toBe(150);
    // The first 150 opened are the ones dropped (oldest first): the newest 50 are still open.
    expect(sockets.slice(150).every((s) => !s.destroyed)).toBe(true);
    const c = await connectDevice(t.gw, dev);
    await c.publish(await reading(dev, 1));
    expect((await c.next()).kind).toBe('receipt');
    expect(t.gw.broker.pending.size).toBeLessThanOrEqual(50);
    await c.end();
    for (const s of sockets) s.destroy();
    await waitFor(() => t.gw.broker.pending.size === 0, 'the pending set to empty once the sockets close');
    await t.stop();
  });

  test('a connection that sends no CONNECT, or half of one, is closed by the CONNECT timeout', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { mqttConnectTimeoutMs: 300, mqttMaxPendingConnections: 1000 });
    const { closed } = await silentSockets(plainMqttUrl(t.gw), 100);
    const half = await attempt(plainMqttUrl(t.gw), { kind: 'half-connect' }, 10_000);
    expect(half).toBe('closed');
    await waitFor(() => closed() === 100, 'the broker to close all 100 silent sockets');
    expect(t.gw.broker.pending.droppedCount).toBe(0); // closed by the timeout, not by the cap
    await waitFor(() => t.gw.broker.pending.size === 0, 'the pending set to empty');
    await t.stop();
  });

  test('the guards are configuration with defaults, validated at boot', async () => {
    const { loadConfig, DEFAULT_CONFIG } = await import('../../gateway/config.js');
    expect([DEFAULT_CONFIG.mqttConnectTimeoutMs, DEFAULT_CONFIG.mqttMaxPendingConnections]).toEqual([10_000, 1000]);
    const c = loadConfig({}, { ORIGINPROOF_MQTT_CONNECT_TIMEOUT_MS: '2500', ORIGINPROOF_MQTT_MAX_PENDING: '64' });
    expect([c.mqttConnectTimeoutMs, c.mqttMaxPendingConnections]).toEqual([2500, 64]);
    expect(() => loadConfig({ mqttMaxPendingConnections: 0 }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
    expect(() => loadConfig({ mqttConnectTimeoutMs: 10 }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
  });
});
