import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  Device, fetchMqttUrl, loadFleet, loadSecureElement, onboardDevice, onboardFleet, readState, runFleet, createSecureElement, SIM_FIRMWARE,
} from '../../device-sim/index.js';
import { createProofOfPossession, publicKey, OriginProofError, fromBase64, decodeCertificate, toHex } from '../../protocol/index.js';
import { startSimGateway, type SimGateway } from './helpers.js';

describe('onboarding per SPEC §2', () => {
  let t: SimGateway;
  let dir: string;
  beforeAll(async () => {
    t = await startSimGateway();
    dir = await mkdtemp(join(tmpdir(), 'op-sim-devices-'));
  });
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the agency refuses a proof of possession over another nonce or by another key', async () => {
    const se = createSecureElement(-8);
    const key = publicKey(se.alg, se.publicKey);
    const nonce = t.agency.challenge();
    const other = t.agency.challenge();
    const pop = await createProofOfPossession(se, { agencyId: t.agency.id, nonce: other, iat: Math.floor(Date.now() / 1000) });
    const profile = { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: SIM_FIRMWARE };
    await expect(t.agency.certify(key, pop, nonce, profile)).rejects.toSatisfy((e) => e instanceof OriginProofError && e.code === 'CLAIM_INVALID');
    const stranger = createSecureElement(-7);
    const n2 = t.agency.challenge();
    const pop2 = await createProofOfPossession(stranger, { agencyId: t.agency.id, nonce: n2, iat: Math.floor(Date.now() / 1000) });
    await expect(t.agency.certify(key, pop2, n2, profile)).rejects.toSatisfy((e) => e instanceof OriginProofError && e.code === 'UNKNOWN_KEY');
  });

  test.each([['ed25519', -8], ['es256', -7]] as const)('a %s device is certified, registered, provisioned and sends a checked reading', async (_n, alg) => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'air-quality-sensor', alg, dir });
    const cert = decodeCertificate(fromBase64(o.state.certificate));
    expect(cert.claims.sub).toBe(o.state.deviceId);
    expect(cert.claims.profile?.readingTypes).toContain('pm25');
    const res = await fetch(`${t.gw.httpUrl}/v1/devices/${o.state.deviceId}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('active');
    expect((await stat(join(dir, o.state.keyFile))).mode & 0o777).toBe(0o600);
    // The key file holds the element's storage; the state file holds no secret.
    expect(await readFile(o.statePath!, 'utf8')).not.toMatch(/pkcs8|secretKey/);

    const d = new Device({ state: readState(o.statePath!), statePath: o.statePath!, se: loadSecureElement(join(dir, o.state.keyFile)) });
    await d.connect();
    const seq = (await d.sendReading())!;
    const r = await d.nextReceipt(seq);
    expect(d.stats.receiptInvalid).toBe(0);
    expect(toHex(r.certRef)).toBe(toHex(cert.certRef));
    await d.close();
    // Persisted before sending: a restarted device continues above every number it may have used.
    const s = readState(o.statePath!);
    expect(s.seqReserved).toBeGreaterThanOrEqual(seq);
    const again = new Device({ state: s, statePath: o.statePath!, se: loadSecureElement(join(dir, o.state.keyFile)) });
    expect(again.nextSeq).toBeGreaterThan(seq);
  });

  test("without --mqtt, sim onboard takes the MQTT port the gateway publishes on GET /v1/log", async () => {
    expect(await fetchMqttUrl(t.gw.httpUrl)).toBe(`mqtt://127.0.0.1:${t.gw.mqttPort}`);
    expect(await fetchMqttUrl(`${t.gw.httpUrl}/`)).toBe(t.gw.mqttUrl);
  });

  test('sim onboard writes a fleet that sim run drives to receipts', async () => {
    const out = join(dir, 'fleet');
    const m = await onboardFleet({ gateway: t.endpoint, agency: t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count: 4, kinds: ['fingerprint-reader', 'temperature-sensor', 'water-meter', 'air-quality-sensor'], out });
    expect(m.devices).toHaveLength(4);
    const { devices } = loadFleet(out);
    const s = await runFleet({ devices, rate: 40, durationMs: 1500 });
    expect(s.connected).toBe(4);
    expect(s.sent).toBeGreaterThan(40);
    expect(s.receipted).toBe(s.sent);
    expect(s.rejected).toEqual({});
    expect(s.pending).toBe(0);
    expect(s.latencyMs.p99).toBeGreaterThan(0);
    expect(s.latencyMs.max).toBeGreaterThanOrEqual(s.latencyMs.p99);
    for (const d of devices) expect(d.stats.latencies.count).toBe(d.stats.receipted);
  });

  test('sim run exits 1 when devices cannot connect (here: nothing listens on the MQTT address)', async () => {
    const out = join(dir, 'fleet');
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['dist/cli/main.js', 'sim', 'run', '--fleet', out, '--mqtt', 'mqtt://127.0.0.1:1', '--duration', '1s', '--no-progress'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => resolve({ status, stderr })); // 'close', not 'exit': stderr read to the end
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('4 of 4 devices could not connect');
  });
});

describe('devices over MQTT over TLS (SPEC §4)', () => {
  const tls = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'tls', name);
  let t: SimGateway;
  let dir: string;
  beforeAll(async () => {
    t = await startSimGateway({ mqttTlsPort: 0, tlsCertFile: tls('gateway.pem'), tlsKeyFile: tls('gateway.key') });
    dir = await mkdtemp(join(tmpdir(), 'op-sim-tls-'));
  });
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('onboarding finds the mqtts: address, and a device provisioned with the CA connects and gets its receipt', async () => {
    expect(await fetchMqttUrl(t.gw.httpUrl)).toBe(t.gw.mqttTlsUrl);
    const ca = await readFile(tls('ca.pem'), 'utf8');
    const gateway = { ...t.endpoint, mqttUrl: t.gw.mqttTlsUrl!, tlsCa: ca };
    const o = await onboardDevice(t.agency, { gateway, kind: 'temperature-sensor', alg: -7, dir });
    expect(readState(o.statePath!).gateway).toMatchObject({ mqttUrl: t.gw.mqttTlsUrl, tlsCa: ca });
    const d = new Device({ state: readState(o.statePath!), statePath: o.statePath!, se: loadSecureElement(join(dir, o.state.keyFile)) });
    await d.connect();
    const seq = (await d.sendReading())!;
    await d.nextReceipt(seq);
    expect(d.stats.receiptInvalid).toBe(0);
    await d.close();
  });

  test('without the CA the device refuses the gateway: the certificate is checked', async () => {
    const o = await onboardDevice(t.agency, { gateway: { ...t.endpoint, mqttUrl: t.gw.mqttTlsUrl! }, kind: 'temperature-sensor', dir });
    const d = new Device({ state: readState(o.statePath!), se: loadSecureElement(join(dir, o.state.keyFile)) });
    await expect(d.connect()).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    await d.close();
  });
});
