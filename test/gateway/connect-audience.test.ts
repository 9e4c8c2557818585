/**
 * The connect token's audience (firmware-specs/SPEC.md §2.4, §4): a device is provisioned with the gateway id, its
 * tokens name it as `aud`, and the gateway refuses a token made for another gateway (CONNACK 4, bad credentials, as
 * any other bad token; the check says CLAIM_INVALID). The gateway id is config `gatewayId`; its default is the id the
 * device simulator provisions by default, so default devices keep connecting.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_CONFIG, loadConfig } from '../../gateway/config.js';
import { CONNACK } from '../../gateway/mqtt/connack.js';
import { plainMqttUrl, type RunningGateway } from '../../gateway/gateway.js';
import { ConnackRefused, DEFAULT_AUD, Device, onboardDevice, type Onboarded } from '../../device-sim/index.js';
import { OriginProofError } from '../../protocol/index.js';
import { startSimGateway, type SimGateway } from '../sim/helpers.js';
import { connackCode, freshToken } from './harness.js';

const tokenFor = (o: Onboarded, aud: string) => freshToken({ signer: o.se }, 300, aud);

/** The error code behind the CONNACK, from the gateway's own check. */
function authCode(gw: RunningGateway, id: string, token: Uint8Array): string | null {
  try {
    gw.authenticateDevice(id, token);
    return null;
  } catch (err) {
    return err instanceof OriginProofError ? err.code : String(err);
  }
}

/** A sim device, onboarded as `sim onboard` does; `aud` omitted: whatever onboarding provisions by default. */
async function simDevice(t: SimGateway, aud?: string): Promise<Onboarded> {
  return onboardDevice(t.agency, { gateway: { httpUrl: t.gw.httpUrl, mqttUrl: plainMqttUrl(t.gw), ...(aud ? { aud } : {}) }, kind: 'temperature-sensor' });
}

/** Connect the device, send one reading, wait for its receipt. */
async function receipted(o: Onboarded): Promise<void> {
  const d = new Device({ state: o.state, se: o.se });
  try {
    await d.connect();
    const seq = (await d.sendReading())!;
    await d.nextReceipt(seq);
  } finally {
    await d.close();
  }
}

describe('connect-token audience, default gateway id', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway();
  });
  afterAll(() => t.stop());

  test("the default gateway id is the simulator's default audience", () => {
    expect(DEFAULT_CONFIG.gatewayId).toBe(DEFAULT_AUD);
    expect(t.gw.config.gatewayId).toBe(DEFAULT_AUD);
  });

  test('a device onboarded with the defaults connects and gets receipts', async () => {
    const o = await simDevice(t);
    expect(o.state.gateway.aud).toBe(t.gw.config.gatewayId);
    await receipted(o);
  });

  test('a token for another gateway is refused: CONNACK 4, CLAIM_INVALID; the same device with a token for this one connects', async () => {
    const o = await simDevice(t);
    const foreign = await tokenFor(o, 'gw-b.example');
    expect(authCode(t.gw, o.state.deviceId, foreign)).toBe('CLAIM_INVALID');
    expect(await connackCode(plainMqttUrl(t.gw), o.state.deviceId, foreign)).toBe(CONNACK.BAD_CREDENTIALS);
    expect(await connackCode(plainMqttUrl(t.gw), o.state.deviceId, await tokenFor(o, DEFAULT_AUD))).toBe(0);
  });

  test('a device provisioned for another gateway is refused at CONNECT (4)', async () => {
    const o = await simDevice(t, 'gw-b.example');
    const d = new Device({ state: o.state, se: o.se });
    const err = await d.connect().then(() => null, (e: unknown) => e);
    await d.close();
    expect(err instanceof ConnackRefused && err.returnCode).toBe(CONNACK.BAD_CREDENTIALS);
  });
});

describe('connect-token audience, gateway id gw-a.example', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway({ gatewayId: 'gw-a.example' });
  });
  afterAll(() => t.stop());

  test("a token made for the default id (another gateway's) is refused; one for gw-a.example connects", async () => {
    const o = await simDevice(t, 'gw-a.example');
    const other = await tokenFor(o, DEFAULT_AUD);
    expect(authCode(t.gw, o.state.deviceId, other)).toBe('CLAIM_INVALID');
    expect(await connackCode(plainMqttUrl(t.gw), o.state.deviceId, other)).toBe(CONNACK.BAD_CREDENTIALS);
    expect(authCode(t.gw, o.state.deviceId, await tokenFor(o, 'gw-a.example'))).toBeNull();
  });

  test('a device provisioned with gw-a.example gets receipts', async () => {
    await receipted(await simDevice(t, 'gw-a.example'));
  });

  test('GET /v1/log publishes the gateway id; onboarding without an audience provisions it, and the device gets receipts', async () => {
    expect((await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json().gatewayId).toBe('gw-a.example');
    const o = await simDevice(t);
    expect(o.state.gateway.aud).toBe('gw-a.example');
    await receipted(o);
  });
});

describe('gatewayId configuration', () => {
  test('ORIGINPROOF_GATEWAY_ID sets it, an override wins, the default is originproof', () => {
    expect(loadConfig({}, {}).gatewayId).toBe('originproof');
    expect(loadConfig({}, { ORIGINPROOF_GATEWAY_ID: 'gw-b.example' }).gatewayId).toBe('gw-b.example');
    expect(loadConfig({ gatewayId: 'gw-c.example' }, { ORIGINPROOF_GATEWAY_ID: 'gw-b.example' }).gatewayId).toBe('gw-c.example');
  });

  test.each(['', 'Gateway B', 'gw_b', '-gw', 'a'.repeat(64)])('%j is not a gateway id (what a connect token could name as aud)', (id) => {
    expect(() => loadConfig({}, { ORIGINPROOF_GATEWAY_ID: id })).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
    expect(() => loadConfig({ gatewayId: id }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(/gatewayId/) }));
  });
});
