/** `originproof gateway`: run the gateway. Flags override environment variables, which override the defaults. */
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, DEFAULT_CONFIG, ENV_VARS, FLAGS } from '../../gateway/config-defaults.js';
import type { GatewayConfig } from '../../gateway/config.js';
import { describeFailure } from '../failure.js';

/** A setting's default as --help writes it: `off` for a listener or switch, `none` for a file or list. */
export function defaultText(key: keyof GatewayConfig): string {
  const v = DEFAULT_CONFIG[key];
  if (key === 'verifyWorkers') return `one per core (${String(v)} here)`;
  if (v === null) return key.endsWith('Port') ? 'off' : 'none';
  if (v === false) return 'off';
  return String(v);
}

/**
 * A value flag's parser (found by the config review): a flag given twice is refused, where the last one silently won
 * (`--http-port abc --http-port 0` started, the typo unseen); a value that is itself a flag is the missing value it
 * is (`--http-port --mqtt-port 0` took "--mqtt-port" as the port and then said only "too many arguments").
 */
function givenOnce(flag: string) {
  return (value: string, previous: unknown): string => {
    if (previous !== undefined) throw new InvalidArgumentError(`${flag} is given twice (${String(previous)}, then ${value}): give it once`);
    if (value.startsWith('--')) throw new InvalidArgumentError(`${flag} has no value (${value} is the next flag)`);
    return value;
  };
}

export function registerGateway(program: Command): void {
  // Each variable with its setting, its flag if it has one, and its default: as config-defaults.ts has them.
  const width = Math.max(...Object.keys(ENV_VARS).map((name) => name.length));
  const flagOf = FLAGS as Partial<Record<keyof GatewayConfig, string>>;
  const envHelp = Object.entries(ENV_VARS)
    .map(([name, key]) => `  ${name.padEnd(width)}  ${key}${flagOf[key] ? ` (${flagOf[key]})` : ''}, default ${defaultText(key)}`)
    .join('\n');
  const gateway = program
    .command('gateway')
    .description('run the gateway: embedded MQTT broker (aedes) + HTTP API (Fastify) + ledger (entry segment files + LevelDB)')
    .option(`${FLAGS.dataDir} <dir>`, `data directory (default ${defaultText('dataDir')})`)
    .option(`${FLAGS.host} <addr>`, `listen address (default ${defaultText('host')})`)
    .option(`${FLAGS.httpPort} <port>`, `HTTP API port (default ${defaultText('httpPort')})`)
    .option(`${FLAGS.mqttPort} <port>`, `plain MQTT port, or off (default ${defaultText('mqttPort')})`)
    .option(`${FLAGS.mqttTlsPort} <port>`, `MQTT over TLS port, e.g. 8883 (default ${defaultText('mqttTlsPort')}; needs --tls-cert and --tls-key)`)
    .option(`${FLAGS.wsPort} <port>`, `MQTT over WebSocket port (default ${defaultText('wsPort')}; over TLS when --tls-cert is given)`)
    .option(`${FLAGS.tlsCertFile} <file>`, `the gateway's TLS certificate chain (PEM) (default ${defaultText('tlsCertFile')})`)
    .option(`${FLAGS.tlsKeyFile} <file>`, `its private key (PEM) (default ${defaultText('tlsKeyFile')})`)
    .option(`${FLAGS.httpTls}`, `serve the HTTP API over TLS with that certificate (default ${defaultText('httpTls')})`)
    .option(`${FLAGS.trustFile} <file>`, `trust file (JSON) with the root authority key(s) (default ${defaultText('trustFile')})`)
    .option(`${FLAGS.origin} <origin>`, `checkpoint origin line (default ${defaultText('origin')})`)
    .option(`${FLAGS.gatewayId} <id>`, `this gateway's id: the aud devices' connect tokens must name (default ${defaultText('gatewayId')})`)
    .option(`${FLAGS.clockSkewSeconds} <seconds>`, `allowed device clock lead (default ${defaultText('clockSkewSeconds')})`)
    .option(`${FLAGS.blockMaxEntries} <n>`, `entries per block (default ${defaultText('blockMaxEntries')})`)
    .option(`${FLAGS.blockMaxMs} <ms>`, `longest wait before a block is sealed (default ${defaultText('blockMaxMs')})`)
    .option(`${FLAGS.verifyWorkers} <n>`, `signature worker threads (default ${defaultText('verifyWorkers')}; 0: on the main thread)`)
    .option(`${FLAGS.mqttMaxConnections} <n>`, `most device connections at once; more get CONNACK 3 (default ${defaultText('mqttMaxConnections')})`)
    .option(`${FLAGS.ed25519Library} <lib>`, `auto|libsodium|node: who verifies Ed25519 readings (default ${defaultText('ed25519Library')})`)
    .option(`${FLAGS.trustProxy} <addrs>`, `reverse proxies whose X-Forwarded-For names the client: addresses, CIDR ranges, loopback, linklocal, uniquelocal (comma-separated), or off (default ${defaultText('trustProxy')})`)
    .option(`${FLAGS.logLevel} <level>`, `fatal|error|warn|info|debug|silent (default ${defaultText('logLevel')})`)
    .addHelpText('after', `\nEnvironment variables:\n${envHelp}\n`);
  for (const option of gateway.options) if (option.required && option.long) option.argParser(givenOnce(option.long));
  gateway.action(async (o: Record<string, string | boolean | undefined>, command: Command) => {
      // Each flag given sets its config key (FLAGS); the others are left to the environment and the defaults.
      const keyOf = new Map<string, keyof GatewayConfig>(Object.entries(FLAGS).map(([key, flag]) => [flag, key as keyof GatewayConfig]));
      const overrides: Partial<Record<keyof GatewayConfig, unknown>> = {};
      for (const option of command.options) {
        const key = option.long === undefined ? undefined : keyOf.get(option.long);
        if (key) overrides[key] = o[option.attributeName()];
      }
      let gw;
      try {
        // Loaded here, not with the CLI: every other command paid ~1 s a process for fastify, aedes and LevelDB.
        const { startGateway } = await import('../../gateway/gateway.js');
        gw = await startGateway(overrides, { overrideNames: FLAGS });
      } catch (err) {
        if (err instanceof ConfigError) {
          // `[CODE] message`, as every other CLI failure (cli/failure.ts): the code is for scripts and supervisors.
          process.stderr.write(`${describeFailure(err)}\n`);
          process.exit(2);
        }
        throw err;
      }
      // Signal handlers before the banner: whoever waits for it to say ready may send SIGTERM at once. A second
      // signal during the shutdown exits at once: what is not receipted yet the devices keep and resend, and the
      // store comes back as after a crash (README "Durability and crash safety").
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          process.stderr.write(`${signal} again: exiting now, without finishing the shutdown\n`);
          process.exit(1);
        }
        stopping = true;
        process.stdout.write(`${signal}: sealing the pending block and shutting down...\n`);
        gw.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`shutdown failed: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      // SIGHUP: present the certificate and key files' current contents on every TLS listener (renewal without a
      // restart); a bad pair is refused and the certificate in use stays.
      if (gw.tlsCertificate) {
        process.on('SIGHUP', () => {
          gw.reloadTls().then(
            (c) => process.stdout.write(`SIGHUP: TLS certificate reloaded: ${c.subject}, valid until ${c.notAfter.toISOString()}\n`),
            (err: unknown) => process.stderr.write(`SIGHUP: TLS certificate not reloaded, the current one stays: ${(err as Error).message.replace(/\n\s*/g, ' ')}\n`),
          );
        });
      }
      const roots = gw.trust.roots.map((r) => r.name).join(', ') || 'none (start with --trust FILE to register agencies)';
      process.stdout.write(
        [
          `OriginProof gateway ready`,
          `  HTTP API      ${gw.httpUrl}   (docs: ${gw.httpUrl}/docs)`,
          `  verifier page ${gw.httpUrl}/`,
          `  MQTT          ${[gw.mqttUrl, gw.mqttTlsUrl].filter(Boolean).join('   ')}${gw.wsUrl ? `   WebSocket: ${gw.wsUrl}` : ''}`,
          ...(gw.tlsCertificate ? [`  TLS cert      ${gw.tlsCertificate.subject}, valid until ${gw.tlsCertificate.notAfter.toISOString()}`] : []),
          ...(gw.config.trustProxy ? [`  proxies       ${gw.config.trustProxy.join(', ')} (trusted: their X-Forwarded-For names the client)`] : []),
          `  gateway id    ${gw.config.gatewayId} (aud of connect tokens)`,
          `  data          ${gw.config.dataDir}`,
          `  root(s)       ${roots}`,
          `  checkpoint key ${gw.checkpointVerifierKey}`,
          ...(gw.nextCheckpointVerifierKey ? [`  next key      ${gw.nextCheckpointVerifierKey} (announced: every checkpoint names it; \`originproof ledger withdraw-key\` and a restart withdraw it)`] : []),
          `  Ed25519 verify ${gw.ed25519Verifier} (P-256: node:crypto)`,
          '',
        ].join('\n'),
      );
    });
}
