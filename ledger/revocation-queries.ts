/**
 * The revocation list of the log (protocol/revocation-log.ts) as a checkpoint of a given size commits to it, read
 * through the type index and kept: the second layer of the ledger's read side (LedgerQueries, ledger/queries.ts).
 */
import { fail } from '../protocol/errors.js';
import { decodeLogEntry, ENTRY_REVOCATION } from '../protocol/log-entry.js';
import type { LoggedRevocation } from '../protocol/revocation-log.js';
import { EntryQueries, MAX_LIMIT } from './entry-queries.js';

/** A page of the revocation list (LedgerQueries.revocationPage). */
export interface RevocationPage {
  /** Revocation entries below the tree size, in all (not only this page's). */
  count: number;
  revocations: LoggedRevocation[];
  /** The last index of this page when more follow (pass it as `after`). */
  next?: number;
}

/** How many entries of an index-ordered list have an index below `index` (binary search). */
function countBelow(list: readonly LoggedRevocation[], index: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.index < index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export abstract class RevocationQueries extends EntryQueries {
  /**
   * Every revocation entry below `treeSize` (default: the committed size), in log order, with its statement: the
   * list a checkpoint of that size commits to (protocol/revocation-log.ts). Entries never change, so what was read
   * is kept and only entries logged since are read again (GET /v1/revocations and POST /v1/verify ask per request).
   */
  async revocationLog(treeSize = this.committedSize): Promise<LoggedRevocation[]> {
    const { list, count } = await this.#revocationsBelow(treeSize);
    return list.slice(0, count);
  }

  /**
   * One page of the revocation list below `treeSize`: the entries after index `after` (all when undefined), at most
   * `limit` (all when undefined), how many the whole list holds, and the index to pass as `after` for the rest
   * (undefined: the list was read to its end). Copies only the page out of the kept list.
   */
  async revocationPage(treeSize: number, q: { after?: number; limit?: number } = {}): Promise<RevocationPage> {
    const { list, count } = await this.#revocationsBelow(treeSize);
    const start = q.after === undefined ? 0 : Math.min(count, countBelow(list, q.after + 1));
    const end = q.limit === undefined ? count : Math.min(count, start + q.limit);
    const revocations = list.slice(start, end);
    return { count, revocations, ...(end < count ? { next: revocations[revocations.length - 1]!.index } : {}) };
  }

  /**
   * The kept list (not a copy: callers only read it) and how many of its first entries lie below `treeSize`. Entries
   * logged since the list was kept are read and, at a committed size, kept too: each new size is read once.
   */
  async #revocationsBelow(treeSize: number): Promise<{ list: readonly LoggedRevocation[]; count: number }> {
    const known = this.#revocations;
    if (treeSize <= known.size) return { list: known.list, count: countBelow(known.list, treeSize) };
    const list = [...known.list, ...(await this.#readRevocations(known.size, treeSize))];
    if (treeSize <= this.committedSize && treeSize > this.#revocations.size) this.#revocations = { size: treeSize, list };
    return { list, count: list.length };
  }

  #revocations: { size: number; list: LoggedRevocation[] } = { size: 0, list: [] };

  /** Revocation entries with from <= index < to, through the type index. */
  async #readRevocations(from: number, to: number): Promise<LoggedRevocation[]> {
    const indexes: number[] = [];
    let after: number | undefined = from > 0 ? from - 1 : undefined;
    for (;;) {
      const page: number[] = [];
      for await (const i of this.backend.typeHits(ENTRY_REVOCATION, { limit: MAX_LIMIT, ...(after === undefined ? {} : { afterIndex: after }) })) page.push(i);
      for (const i of page) if (i >= from && i < to) indexes.push(i);
      if (page.length < MAX_LIMIT || page[page.length - 1]! >= to) break;
      after = page[page.length - 1];
    }
    const { entries } = await this.checked(indexes);
    return indexes.map((index, k) => {
      const bytes = entries[k];
      if (!bytes) fail('MALFORMED', `revocation entry ${index} is missing`, 'index');
      const e = decodeLogEntry(bytes);
      if (e.type !== ENTRY_REVOCATION || e.index !== index) fail('MALFORMED', `entry ${index} is not the revocation entry the type index names`, 'index');
      return { index, statement: e.payload };
    });
  }
}
