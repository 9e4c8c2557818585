/**
 * The gateway a bench runs against: as `npm start` runs it, in its own process (the default), or inside the bench's
 * process; with what the bench reads of it (HTTP, memory from /proc or /metrics, CPU per thread kind).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createWriteStream } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { plainMqttUrl, startGateway, type RunningGateway } from '../gateway/gateway.js';
import { npmStartArgs } from '../scripts/npm-start.js';
import { DEFAULT_CONFIG } from '../gateway/config.js';
import type { E2eOptions } from './e2e.js';
import type { Post } from './fleet.js';

export type { Post } from './fleet.js';

/**
 * OP_BENCH_MARKS=1: print each timed phase's start and end on the monotonic clock (µs), the clock of a V8 CPU
 * profile's timestamps and of `perf record -k CLOCK_MONOTONIC`, so a profile of the gateway can be cut to one phase.
 */
export const mark = (what: string) => {
  if (process.env.OP_BENCH_MARKS) process.stderr.write(`mark ${Number(process.hrtime.bigint() / 1000n)} ${what}\n`);
};

export interface GatewayUnderTest {
  mqttUrl: string;
  ed25519Verifier: string;
  post: Post;
  /** GET a JSON resource of the HTTP API */
  getJson(path: string): Promise<Record<string, unknown>>;
  /** Start a new peak for peakRss (Linux: /proc/<pid>/clear_refs); false where it cannot */
  resetPeak(): Promise<boolean>;
  rss(): Promise<number>;
  /** peak resident memory since the process started (getrusage maxrss): catches peaks between samples */
  peakRss(): Promise<number>;
  /** V8 heap and external memory, for the record of where RSS goes */
  heap?(): Promise<string>;
  cpuSeconds(): Promise<number>;
  /** CPU seconds by thread kind (Linux /proc; null elsewhere): event loop, verify workers (niced), the rest */
  threadCpu?(): Promise<ThreadCpu | null>;
  close(): Promise<void>;
}

/** CPU seconds of the gateway's threads by kind: the event loop, the verify workers, and V8's and libuv's helpers. */
export interface ThreadCpu {
  loop: number;
  workers: number;
  other: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ: /proc/<pid>/stat times are in clock ticks of 1/100 s on Linux

/**
 * CPU seconds of a process's threads by kind (Linux /proc; null elsewhere). The main thread's tid is the pid; verify
 * workers are the threads with a nice value above 0 (verify-pool.ts sets it); everything else is V8's and libuv's
 * helpers. Threads that have exited are not counted.
 */
export async function threadCpuOf(pid: number): Promise<ThreadCpu | null> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => null);
  if (!tids) return null;
  const out: ThreadCpu = { loop: 0, workers: 0, other: 0 };
  for (const tid of tids) {
    const text = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => null);
    if (!text) continue;
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const sec = (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND; // utime, stime (fields 14 and 15)
    if (Number(tid) === pid) out.loop += sec;
    else if (Number(f[16]) > 0) out.workers += sec; // nice (field 19)
    else out.other += sec;
  }
  return out;
}

/** Reset a process's peak RSS (VmHWM) to its current RSS: `echo 5 > /proc/<pid>/clear_refs` (Linux 4.0+). */
async function clearPeak(pid: string): Promise<boolean> {
  return writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  );
}

/** A /proc/<pid>/status field in bytes (Linux), else null. */
async function procStatusOf(pid: string, field: string): Promise<number | null> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null);
  const m = text && new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/** Bytes as MB (10^6 bytes), the unit of the memory target and of every memory figure the bench reports. */
export const toMB = (bytes: number): number => Math.round(bytes / 1e6);

export async function inProcessGateway(dir: string, opts: E2eOptions): Promise<GatewayUnderTest> {
  const gw: RunningGateway = await startGateway({
    dataDir: join(dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile: join(dir, 'trust.json'), logLevel: 'warn', verifyWorkers: opts.verifyWorkers ?? DEFAULT_CONFIG.verifyWorkers,
    writeRateLimit: 1_000_000, ...(opts.queueHighWater ? { queueHighWater: opts.queueHighWater } : {}), ...(opts.ed25519Library ? { ed25519Library: opts.ed25519Library } : {}),
    ...(opts.tls ? { mqttPort: 'off', mqttTlsPort: 0, tlsCertFile: opts.tls.certFile, tlsKeyFile: opts.tls.keyFile } : {}),
  });
  return {
    mqttUrl: opts.tls ? gw.mqttTlsUrl! : plainMqttUrl(gw),
    ed25519Verifier: gw.ed25519Verifier,
    post: async (url, payload) => {
      const r = await gw.app.inject({ method: 'POST', url, payload });
      return { status: r.statusCode, text: r.body };
    },
    getJson: async (url) => (await gw.app.inject({ method: 'GET', url })).json(),
    resetPeak: () => clearPeak('self'),
    rss: async () => process.memoryUsage().rss,
    peakRss: async () => (await procStatusOf('self', 'VmHWM')) ?? process.resourceUsage().maxRSS * 1024,
    cpuSeconds: async () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
    // the bench's own main thread is the gateway's event loop here
    threadCpu: () => threadCpuOf(process.pid),
    close: () => gw.close(),
  };
}

/** The gateway as `npm start` runs it, in its own process; memory and CPU read from its /metrics. */
export async function childGateway(dir: string, opts: E2eOptions): Promise<GatewayUnderTest> {
  // npm start's own command line (its node flags hold the gateway's heap budget), then the bench's settings.
  // OP_BENCH_GATEWAY_NODE_ARGS: extra node flags for the gateway process (e.g. --cpu-prof --cpu-prof-dir=DIR),
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const nodeArgs = (process.env.OP_BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // after npm start's own node flags, so that one of them can be overridden (e.g. --max-old-space-size=512)
  const start = npmStartArgs(root);
  const script = start.findIndex((a) => !a.startsWith('-'));
  const child = spawn(process.execPath, [...start.slice(0, script), ...nodeArgs, ...start.slice(script), '--trust', join(dir, 'trust.json'), '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--http-port', '0', '--log-level', 'warn', ...(opts.tls ? ['--mqtt-port', 'off', '--mqtt-tls-port', '0', '--tls-cert', opts.tls.certFile, '--tls-key', opts.tls.keyFile] : ['--mqtt-port', '0']), ...(opts.verifyWorkers !== undefined ? ['--verify-workers', String(opts.verifyWorkers)] : [])], {
    env: { ...process.env, ORIGINPROOF_WRITE_RATE_LIMIT: '1000000', ...(opts.queueHighWater ? { ORIGINPROOF_QUEUE_HIGH_WATER: String(opts.queueHighWater) } : {}), ...(opts.ed25519Library ? { ORIGINPROOF_ED25519_LIBRARY: opts.ed25519Library } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  mark(`gateway spawned, pid ${child.pid}`);
  // OP_BENCH_GATEWAY_LOG=FILE: the gateway's stdout goes to FILE too (e.g. with --trace-gc in the node flags above)
  if (process.env.OP_BENCH_GATEWAY_LOG) child.stdout!.pipe(createWriteStream(process.env.OP_BENCH_GATEWAY_LOG));
  const urls = await new Promise<{ http: string; mqtt: string; ed25519: string }>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const h = /HTTP API\s+(http:\/\/\S+)/.exec(text);
      const m = /MQTT\s+(mqtts?:\/\/\S+)/.exec(text);
      const e = /Ed25519 verify\s+(\S+)/.exec(text);
      if (h && m && e) resolve({ http: h[1]!, mqtt: m[1]!, ed25519: e[1]! });
    });
    child.once('exit', (c) => reject(new Error(`gateway exited ${c}: ${text}`)));
  });
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${urls.http}/metrics`)).text();
    const m = new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  // RSS and CPU come from /proc (Linux) while the fleets run: a /metrics scrape costs the gateway's main thread
  // ~15 ms with 1,000 sockets open (prom-client's default metrics list every handle and open fd), ~3% of it at a
  // 500 ms sampling interval. /metrics is the fallback elsewhere and is read once for the heap figures.
  const pid = child.pid!;
  const procStatus = (field: string) => procStatusOf(String(pid), field);
  const procCpu = async (): Promise<number | null> => {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (!text) return null;
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND; // utime, stime (fields 14 and 15)
  };
  return {
    mqttUrl: urls.mqtt,
    ed25519Verifier: urls.ed25519,
    // The bench's POSTs are registrations, which the gateway answers the same when posted again (200, already
    // registered). One that failed without an answer (no status) is posted once more, and said so. Why some fail:
    // the 10,000-device onboarding reuses sockets pooled idle since the earlier fleets' onboarding, and the gateway
    // closes an idle connection after its keep-alive timeout (72 s, Fastify's default, advertised as
    // `Keep-Alive: timeout=72`). undici closes its side 2 s before, by a timer that this process's own busy event loop
    // (the answer audits) can hold back past the server's: a request written then meets the server's close
    // (UND_ERR_SOCKET "other side closed"). Measured with the gateway's sockets' 'timeout' events counted: ~270 closed
    // idle, 190 POSTs failed and went through when posted again (docs/PERFORMANCE.md). An answer with a status,
    // whatever it is, is returned as it is.
    post: async (path, body) => {
      const once = async () => {
        const r = await fetch(`${urls.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        return { status: r.status, text: await r.text() };
      };
      try {
        return await once();
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        process.stderr.write(`bench: POST ${path} failed without an answer (${cause?.code ?? ''} ${cause?.message ?? (err as Error).message}); posted once more\n`);
        return once();
      }
    },
    getJson: async (path) => (await (await fetch(`${urls.http}${path}`)).json()) as Record<string, unknown>,
    resetPeak: () => clearPeak(String(pid)),
    rss: async () => (await procStatus('VmRSS')) ?? metric('originproof_process_resident_memory_bytes'),
    peakRss: async () => (await procStatus('VmHWM')) ?? metric('originproof_process_peak_resident_memory_bytes'),
    heap: async () => {
      const mb = async (n: string) => Math.round((await metric(n)) / 1048576);
      return `main-thread heap total ${await mb('originproof_nodejs_heap_size_total_bytes')} MB, used ${await mb('originproof_nodejs_heap_size_used_bytes')} MB, external ${await mb('originproof_nodejs_external_memory_bytes')} MB`;
    },
    cpuSeconds: async () => (await procCpu()) ?? metric('originproof_process_cpu_seconds_total'),
    threadCpu: () => threadCpuOf(pid),
    close: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
