/**
 * The registry's replay at start: what `Registry.load` costs (gateway/registry.ts over GatewayLedger.registryEvents,
 * gateway/ledger-adapter.ts) for a log holding one agency and N device registrations (Ed25519, bench profiles with a
 * proof of possession, as bench/registry-memory.ts issues them), optionally with `--readings K` reading entries
 * between consecutive registrations (registrations then spread over K+1 times as many tiles). Builds the ledger
 * (blocks of 1,000, unsynced), then per round opens it as the gateway does and times the replay alone (the events
 * read and decoded) and the whole load (the view built too); medians and minima in ms. Standalone:
 *   node dist/bench/registry-replay.js [--devices 10000,30000] [--rounds 5] [--readings 0]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ledger, type EntryInput } from '../ledger/ledger.js';
import { nodeNoteSigner } from '../ledger/signer.js';
import { GatewayLedger } from '../gateway/ledger-adapter.js';
import { Registry } from '../gateway/registry.js';
import {
  ALG_EDDSA, createProofOfPossession, deviceIdFromKey, deviceIdToHex, generateSecretKey, issueCertificate, keyThumbprint, nobleVerify, publicKey,
  type Signer,
} from '../protocol/index.js';
import { ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_READING } from '../protocol/log-entry.js';
import { FIRMWARE } from './fleet.js';
import { nodeSigner } from './node-signer.js';
import { quantile } from './stats.js';
import { standaloneArgs } from './standalone-args.js';

const ORIGIN = 'bench.originproof/log';
const kid = (s: Signer) => keyThumbprint(publicKey(s.alg, s.publicKey));

export interface RegistryReplayResult {
  devices: number;
  readingsBetween: number;
  entries: number;
  /** ms: the replay's events read (and their entries decoded), median and minimum of the rounds */
  eventsMs: number;
  eventsMinMs: number;
  /** ms: Registry.load (the events and the view built from them) */
  loadMs: number;
  loadMinMs: number;
}

/** One agency's and `n` devices' registration payloads (the agency's first). */
async function issueFleet(n: number): Promise<Uint8Array[]> {
  const t = Math.floor(Date.now() / 1000);
  const root = nodeSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  const agency = nodeSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  const agencyId = 'agency-replay.bench';
  const out = [await issueCertificate(root, kid(root), {
    iss: 'root.bench', sub: agencyId, role: 'agency', holderKey: publicKey(agency.alg, agency.publicKey), iat: t, nbf: t - 60, exp: t + 86_400,
  })];
  for (let i = 0; i < n; i++) {
    const signer = nodeSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const holderKey = publicKey(ALG_EDDSA, signer.publicKey);
    out.push(await issueCertificate(agency, kid(agency), {
      iss: agencyId, sub: deviceIdToHex(deviceIdFromKey(holderKey)), role: 'device', holderKey, iat: t, nbf: t - 60, exp: t + 86_400,
      profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
      proofOfPossession: await createProofOfPossession(signer, { agencyId, nonce: new Uint8Array(randomBytes(16)), iat: t }),
    }));
  }
  return out;
}

export async function runRegistryReplay(devices: number, rounds: number, readingsBetween: number): Promise<RegistryReplayResult> {
  const dir = await mkdtemp(join(tmpdir(), 'op-registry-replay-'));
  const signer = nodeNoteSigner(ORIGIN, new Uint8Array(32).fill(5));
  try {
    const payloads = await issueFleet(devices);
    const writer = await Ledger.open({ dir, origin: ORIGIN, signer, sync: false });
    const reading = new Uint8Array(180).fill(0x42);
    const certRef = new Uint8Array(32).fill(7);
    let block: EntryInput[] = [];
    let seq = 0;
    let entries = 0;
    const add = async (input: EntryInput) => {
      block.push(input);
      entries++;
      if (block.length === 1000) await writer.appendBlock(block.splice(0));
    };
    for (const [i, payload] of payloads.entries()) {
      await add({ type: i === 0 ? ENTRY_AGENCY_REGISTRATION : ENTRY_DEVICE_REGISTRATION, payload });
      for (let k = 0; k < readingsBetween; k++) await add({ type: ENTRY_READING, payload: reading, certRef, deviceId: 'dev-0', seq: seq++ });
    }
    if (block.length > 0) await writer.appendBlock(block);
    block = [];
    await writer.close();

    const events: number[] = [];
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const gl = await GatewayLedger.open(join(dir), { origin: ORIGIN, signer, blockMaxEntries: 1000, blockMaxMs: 1000 });
      try {
        let t = performance.now();
        let n = 0;
        for await (const ev of gl.registryEvents()) n += ev.payload.length > 0 ? 1 : 0;
        events.push(performance.now() - t);
        if (n !== devices + 1) throw new Error(`replayed ${n} events, not ${devices + 1}`);
        const registry = new Registry({ byKid: new Map() }, gl, nobleVerify);
        t = performance.now();
        await registry.load();
        loads.push(performance.now() - t);
      } finally {
        await gl.close();
      }
    }
    const ms = (x: number) => Math.round(x * 10) / 10;
    return {
      devices, readingsBetween, entries,
      eventsMs: ms(quantile(events)), eventsMinMs: ms(Math.min(...events)),
      loadMs: ms(quantile(loads)), loadMinMs: ms(Math.min(...loads)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = standaloneArgs();
  const rounds = args.number('rounds', 5);
  const readings = args.number('readings', 0);
  for (const devices of (args.text('devices') ?? '10000,30000').split(',').map(Number)) {
    process.stdout.write(`${JSON.stringify(await runRegistryReplay(devices, rounds, readings))}\n`);
  }
}
