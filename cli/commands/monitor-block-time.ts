/**
 * With a trust file, the monitor checks a checkpoint with the keys of its block's time, as a bundle's checkpoint is
 * checked (protocol/verify-bundle.ts), not with the keys of the monitor's clock. After a checkpoint key rotation the
 * log's latest checkpoint stays the retired key's until the next block (its window ended at the switch), and a
 * monitor whose clock is a little behind the gateway's sees the new key's first checkpoint before that key's window
 * begins by its own clock: by the clock, either was a CHECKPOINT_INVALID alarm, sticky until acknowledged, at every
 * rotation. The checkpoint's `block <height> <hash>` line binds the block header that dates it (GET /v1/blocks/:height).
 */
import { fromBase64 } from '../../protocol/bytes.js';
import { decodeBlockHeader } from '../../protocol/bundle.js';
import { parseCheckpoint, parseNote, type NoteVerifier } from '../../protocol/checkpoint.js';
import { OriginProofError } from '../../protocol/errors.js';
import { DEFAULT_MAX_SKEW_SECONDS } from '../../protocol/reading.js';
import { checkpointKeysAt, checkpointKeysForBlock, type TrustMaterial } from '../../protocol/trust.js';
import { blockExtension } from '../../protocol/verify-bundle.js';
import { gatewayGet, type GatewayRequest } from '../gateway-http.js';

/** The keys to check `note` with, or why the gateway's answer cannot date it (the round's CHECKPOINT_INVALID alarm). */
export type CheckpointKeyChoice = { keys: NoteVerifier[] } | { problem: string };

const BLOCK_LINE = /^block (\d{1,16}) \S+$/;

/**
 * The trust file's keys for `note`: those valid at the time of the block its `block` line binds and begun by the
 * monitor's clock plus the trust file's clock skew allowance (the gateway's, as a bundle's block may be dated ahead by
 * it). A note without a block line, or that does not parse (openCheckpoint then says why), gets the keys valid now.
 * An unreachable gateway throws (the round fails and is retried); an answer that does not date the note is a problem.
 */
export async function keysForCheckpoint(gateway: string, req: GatewayRequest, trust: TrustMaterial, note: string, nowS: number): Promise<CheckpointKeyChoice> {
  let extensions: string[];
  try {
    extensions = parseCheckpoint(parseNote(note).text).extensions;
  } catch {
    return { keys: checkpointKeysAt(trust, nowS) };
  }
  const line = extensions.map((e) => BLOCK_LINE.exec(e)).find((m) => m !== null);
  if (!line) return { keys: checkpointKeysAt(trust, nowS) };
  const height = Number(line[1]);
  let body: { header?: unknown };
  try {
    body = (await gatewayGet(gateway, `v1/blocks/${height}`, req)).json() as typeof body;
  } catch (err) {
    // An error status or an answer that is no block header: the gateway cannot show the block its checkpoint binds.
    if ((err as { status?: number }).status !== undefined || (err instanceof OriginProofError && (err.code === 'MALFORMED' || err.code === 'TOO_LARGE'))) {
      return { problem: `the gateway cannot serve block ${height}, which the checkpoint binds: ${(err as Error).message}` };
    }
    throw err;
  }
  let timeMs: number;
  try {
    const bytes = fromBase64(String(body.header));
    const header = decodeBlockHeader(bytes);
    if (header.height !== height || !extensions.includes(blockExtension(height, bytes))) return { problem: `block ${height} as the gateway serves it is not the block the checkpoint binds` };
    timeMs = header.timeMs;
  } catch (err) {
    return { problem: `block ${height} as the gateway serves it is not a block header: ${(err as Error).message}` };
  }
  const skew = trust.clockSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const blockTime = Math.floor(timeMs / 1000);
  if (blockTime > nowS + skew) return { problem: `block ${height} is dated ${blockTime}, ${blockTime - nowS} s after the monitor's clock (${nowS}; at most ${skew} s allowed)` };
  const keys = checkpointKeysForBlock(trust, blockTime, nowS + skew);
  if (keys.length === 0) return { problem: `the trust file has no checkpoint key valid at block ${height}'s time (${blockTime})` };
  return { keys };
}
