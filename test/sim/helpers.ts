/** Test helpers: a real gateway (port 0, temp dir) with a root and an agency registered over HTTP. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { plainMqttUrl, startGateway, type GatewayRuntime, type RunningGateway } from '../../gateway/gateway.js';
import { onboardFleet, RootAuthority, type Agency } from '../../device-sim/index.js';

export interface SimGateway {
  gw: RunningGateway;
  dir: string;
  root: RootAuthority;
  agency: Agency;
  endpoint: { httpUrl: string; mqttUrl: string; aud: string; checkpointVerifierKey: string };
  /** Close the gateway, run `between` (e.g. copy or replace its data directory), start it again on the same data dir. */
  restart(samePorts?: boolean, between?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** `runtime`: e.g. the gateway's clock (`now`), kept across restart(). */
export async function startSimGateway(overrides: Record<string, unknown> = {}, runtime: GatewayRuntime = {}): Promise<SimGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'op-sim-'));
  const root = await RootAuthority.create('root.example');
  const trustFile = join(dir, 'trust.json');
  await writeFile(trustFile, root.trustJson());
  const opts: Record<string, unknown> = { dataDir: join(dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile, logLevel: 'silent', verifyWorkers: 1, ...overrides };
  const gw = await startGateway(opts, runtime);
  const agency = await root.agency('env.example');
  await agency.registerSelf(gw.httpUrl);
  const t: SimGateway = {
    gw,
    dir,
    root,
    agency,
    endpoint: { httpUrl: gw.httpUrl, mqttUrl: plainMqttUrl(gw), aud: 'originproof', checkpointVerifierKey: gw.checkpointVerifierKey },
    async restart(samePorts = true, between) {
      const ports = { httpPort: t.gw.httpPort, mqttPort: t.gw.mqttPort };
      await t.gw.close();
      await between?.();
      t.gw = await startGateway({ ...opts, ...(samePorts ? ports : {}) }, runtime);
    },
    async stop() {
      await t.gw.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

export interface SimGatewayFixture {
  t: SimGateway;
  /** A temp directory for the devices' files. */
  dir: string;
  /** With `fleet`: `<dir>/fleet`, where that many water meters were onboarded, and their ids. */
  fleet: string;
  ids: string[];
}

/**
 * A sim gateway and a temp directory, made before the enclosing describe's tests and removed after them (read the
 * fields inside the tests: they are set in beforeAll). `fleet`: onboard that many water meters into `<dir>/fleet`.
 */
export function simGatewayFixture(prefix: string, opts: { fleet?: number } = {}): SimGatewayFixture {
  const f = {} as SimGatewayFixture;
  beforeAll(async () => {
    f.t = await startSimGateway();
    f.dir = await mkdtemp(join(tmpdir(), prefix));
    f.fleet = join(f.dir, 'fleet');
    f.ids = [];
    if (opts.fleet) {
      const m = await onboardFleet({ gateway: f.t.endpoint, agency: f.t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count: opts.fleet, kinds: ['water-meter'], out: f.fleet });
      f.ids = m.devices.map((d) => d.replace(/\.json$/, ''));
    }
  });
  afterAll(async () => {
    await f.t?.stop();
    if (f.dir) await rm(f.dir, { recursive: true, force: true });
  });
  return f;
}

/** A device's logged readings, through the gateway's HTTP API. */
export async function entriesOf(t: SimGateway, id: string): Promise<{ index: number; reading: { seq: number } }[]> {
  const res = await fetch(`${t.gw.httpUrl}/v1/devices/${id}/entries`);
  return ((await res.json()) as { entries: { index: number; reading: { seq: number } }[] }).entries;
}

/** Poll until `cond` holds (or fail after `ms`). */
export async function until(cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
