/**
 * `originproof ledger verify --data DIR [--key VKEY]`: re-check a ledger; names the first bad block/entry.
 * `originproof ledger announce-key --data-dir DIR` / `withdraw-key --data-dir DIR`: the next checkpoint key's file
 * (gateway/checkpoint-next-key.ts), read by the gateway at its start.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { BLOCK_MAX_ENTRIES_LIMIT, DEFAULT_CONFIG } from '../../gateway/config-defaults.js';
import { announceNextCheckpointKey, withdrawNextCheckpointKey } from '../../gateway/checkpoint-next-key.js';
import { LedgerDamagedError } from '../../ledger/errors.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { refuseNewStoreOverLog } from '../../ledger/level-open-checks.js';
import { verifyLedger, type VerifyReport } from '../../ledger/verify.js';
import { parseVerifierKey } from '../../protocol/checkpoint.js';
import { errorChain } from '../../protocol/errors.js';
import { warnIfExposed } from '../files.js';

export function registerLedgerCommand(program: Command): void {
  const ledger = program.command('ledger').description('the verifiable log (entry segment files + LevelDB)');
  ledger
    .command('verify')
    .description('re-check entry hashes, tree nodes and roots, block links and checkpoint signatures')
    .option('--data <dir>', "the gateway's data directory (its ledger/ inside) or the ledger's LevelDB directory (required, or --data-dir)")
    .option('--data-dir <dir>', 'the same as --data, as the other ledger commands name it')
    .option('--key <vkey>', 'trusted checkpoint verifier key (C2SP note key: name+hash+base64); default: the one recorded in the ledger (after a key rotation: the current key; the earlier checkpoints are checked with the retired keys it records)')
    .option('--json', 'print the report as JSON')
    .action(async function (this: Command, opts: { data?: string; dataDir?: string; key?: string; json?: boolean }) {
      // Both spellings, since announce-key, rotate-key and withdraw-key (and the gateway) take --data-dir.
      if (opts.data !== undefined && opts.dataDir !== undefined && opts.data !== opts.dataDir) this.error('error: --data and --data-dir name different directories; give one');
      const data = opts.data ?? opts.dataDir;
      if (data === undefined) this.error("error: required option '--data <dir>' (or --data-dir) not specified");
      const o = { data, key: opts.key, json: opts.json };
      const started = performance.now();
      try {
        await verifyCommand(o);
      } catch (err) {
        // The log's files found damaged, incomplete or restored apart from each other before its entries could be
        // read (the checks that refuse the gateway's start): a check that ran and said no, so a report and exit 1,
        // like a bad entry, not exit 2 ("no verdict"), which a script would take for a usage error.
        if (!(err instanceof LedgerDamagedError)) throw err;
        const r: VerifyReport = { ok: false, blocks: 0, entries: 0, elapsedMs: performance.now() - started, workers: 0, revocations: 0, problem: { message: err.message } };
        printReport(r, o.json);
        process.exitCode = 1;
      }
    });
  // The first step of a checkpoint key rotation (README "Checkpoint key rotation"). Files only, so that they may run
  // beside a running gateway: it reads the next key's file at its start. Refusals are exit 2 with their code.
  ledger
    .command('announce-key')
    .description("make the next checkpoint key beside the current one; the gateway announces it from its next start (every checkpoint names it and is signed by it too: devices follow it)")
    .requiredOption('--data-dir <dir>', "the gateway's data directory")
    .option('--origin <origin>', `the log's origin, which names the key in its verifier key (default: ORIGINPROOF_ORIGIN, else ${DEFAULT_CONFIG.origin}, as the gateway)`)
    .action(async (o: { dataDir: string; origin?: string }) => {
      const origin = o.origin ?? process.env['ORIGINPROOF_ORIGIN'] ?? DEFAULT_CONFIG.origin;
      const next = await announceNextCheckpointKey(o.dataDir, origin);
      // The current key's file was read: warned of as every key file the CLI reads (the next key's is made 0600).
      warnIfExposed(next.current.path, 'checkpoint key file', next.current.mode);
      process.stdout.write(
        [
          `next checkpoint key made: ${next.path}`,
          `  verifier key  ${next.verifierKey}`,
          'Restart the gateway to announce it: from then on every checkpoint names it and carries its signature, and GET /v1/log gives it as nextVerifierKey.',
          `Once its devices have had receipts naming it (/metrics: originproof_next_key_devices), stop the gateway and switch: \`originproof ledger rotate-key --data-dir ${o.dataDir}\` (refused while an active device has not); \`originproof ledger withdraw-key --data-dir ${o.dataDir}\` withdraws it.`,
          '',
        ].join('\n'),
      );
    });
  ledger
    .command('rotate-key')
    .description(
      "switch the log to the announced next checkpoint key (gateway stopped): the current key is retired at the log's size, the next key signs every later checkpoint. " +
        'Refused (NEXT_KEY_NOT_HEARD, nothing written) while an active device (registered, not revoked, not expired) has no reading logged since the checkpoints named the next key: it never had a receipt naming it, and would fail every receipt after the switch',
    )
    .requiredOption('--data-dir <dir>', "the gateway's data directory")
    .option('--origin <origin>', `the log's origin (default: ORIGINPROOF_ORIGIN, else ${DEFAULT_CONFIG.origin}, as the gateway)`)
    .option('--allow-unheard', 'switch even though some active devices have not heard of the next key (they are named: provision them with the new key)')
    .action(async (o: { dataDir: string; origin?: string; allowUnheard?: boolean }) => {
      const origin = o.origin ?? process.env['ORIGINPROOF_ORIGIN'] ?? DEFAULT_CONFIG.origin;
      const { rotateCheckpointKey } = await import('../../gateway/checkpoint-rotate.js');
      const { nameDevices } = await import('../../gateway/next-key-coverage.js');
      const r = await rotateCheckpointKey(o.dataDir, origin, Date.now(), { allowUnheard: o.allowUnheard ?? false });
      for (const f of r.keyFiles) warnIfExposed(f.path, f.what, f.mode);
      const c = r.coverage;
      process.stdout.write(
        [
          ...(c ? [`next key heard by ${c.heard} of ${c.active} active devices (a receipt naming it)`] : []),
          ...(c && c.unheard.length > 0 ? [`  not heard by ${c.unheard.length} (--allow-unheard): they fail every receipt from now on until provisioned with the new key: ${nameDevices(c.unheard)}`] : []),
          r.finished ? 'the rotation recorded before is finished: the key files are in place' : `checkpoint key rotated at tree size ${r.retired!.lastTreeSize}`,
          `  checkpoint key  ${r.verifierKey}`,
          `  retired key     kept in ${r.retiredFile} (keep it as secret as the key; the gateway no longer reads it)`,
          'Start the gateway: it signs with the new key. Verifiers: take the trust file again (originproof trust --gateway URL):',
          'GET /v1/trust lists the retired key until now and the new key from now. Devices that followed the announcement go on.',
          '',
        ].join('\n'),
      );
    });
  ledger
    .command('withdraw-key')
    .description('remove the next checkpoint key; the gateway stops announcing it from its next start')
    .requiredOption('--data-dir <dir>', "the gateway's data directory")
    .action(async (o: { dataDir: string }) => {
      const removed = await withdrawNextCheckpointKey(o.dataDir);
      process.stdout.write(removed
        ? 'next checkpoint key removed. Restart the gateway to withdraw the announcement: its checkpoints then name no next key, and devices drop it.\n'
        : `no next checkpoint key is announced in ${o.dataDir}: nothing to withdraw\n`);
    });
}

async function verifyCommand(o: { data: string; key?: string; json?: boolean }): Promise<void> {
  // A key that does not parse is unusable input (exit 2), not a bad ledger: the ledger was never checked. First, so
  // that no look at the directory turns it into a report (found by review: a BAD report for a damaged directory).
  if (o.key !== undefined) parseVerifierKey(o.key);
  // Accept the gateway's --data-dir as well as the LevelDB directory itself; never create a database here.
  const dir = existsSync(join(o.data, 'ledger', 'CURRENT')) ? join(o.data, 'ledger') : o.data;
  if (!existsSync(join(dir, 'CURRENT'))) {
    // Segment files without their store: a log whose index is lost (or not restored), not "no ledger".
    const entries = [join(o.data, 'ledger', 'entries'), join(o.data, 'entries')].find((d) => existsSync(d));
    if (entries) {
      throw new LedgerDamagedError(`${dirname(entries)} holds entry segment files but no LevelDB store (its CURRENT file is missing): the log's index is lost or was not restored; restore the whole ledger directory from a backup`);
    }
    // LevelDB's own files without their CURRENT, as the gateway's start refuses them (found by review: "no ledger").
    for (const d of [join(o.data, 'ledger'), o.data]) await refuseNewStoreOverLog(d);
    process.stderr.write(`originproof: no ledger in ${o.data} (expected a LevelDB directory, or a gateway data directory with ledger/)\n`);
    process.exitCode = 2;
    return;
  }
  // A store LevelDB itself finds corrupt (a garbled CURRENT or manifest, table files missing) is damage too, as the
  // gateway's start says (LEDGER_DAMAGED): a report (found by review: it was exit 2, "no verdict").
  const backend = await LevelBackend.open(dir, { sync: false }).catch((err: unknown) => {
    throw errorChain(err).some((c) => c.code === 'LEVEL_CORRUPTION') ? new LedgerDamagedError((err as Error).message, { cause: err }) : err;
  });
  try {
    // What refuses the gateway's start is reported here too (LedgerDamagedError), before the log is read: segment
    // files missing or cut short, or a store older than its segment files (the committed-size hint larger than
    // the store, or more entries past it than a block holds), whose own log would verify "ok".
    await backend.checkSegmentFiles({ maxUncommitted: BLOCK_MAX_ENTRIES_LIMIT });
    const r = await verifyLedger(backend, o.key ? { key: o.key } : {});
    printReport(r, o.json);
    if (!r.ok) process.exitCode = 1;
  } finally {
    await backend.close();
  }
}

function printReport(r: VerifyReport, json: boolean | undefined): void {
  const rate = r.elapsedMs > 0 ? Math.round(r.entries / (r.elapsedMs / 1000)) : 0;
  if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else if (r.ok) process.stdout.write(`ok: ${r.blocks} blocks, ${r.entries} entries (${r.revocations} revocations, as the checkpoints commit) verified in ${Math.round(r.elapsedMs)} ms (${rate} entries/s)\n`);
  else {
    const p = r.problem!;
    const where = [p.block !== undefined ? `block ${p.block}` : '', p.entry !== undefined ? `entry ${p.entry}` : ''].filter(Boolean).join(', ');
    process.stdout.write(`BAD ${where || 'ledger'}: ${p.message}\n`);
  }
}
