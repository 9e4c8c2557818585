/**
 * A paged reader of one LevelDB key range, for ledger verify's index audit (ledger/level-audit.ts), which walks
 * several ranges side by side and needs to look at a range's next record before it takes it.
 */
import type { Level } from 'level';
import { plain } from './level-records.js';

type Bytes = Uint8Array;
type Db = Level<Bytes, Bytes>;

/** Records of one key range in key order, read in pages. */
export class Cursor {
  readonly #it: { nextv(size: number): Promise<[Bytes, Bytes][]>; close(): Promise<void> };
  #page: [Bytes, Bytes][] = [];
  #at = 0;
  #done = false;

  constructor(db: Db, gte: Bytes, lt: Bytes) {
    this.#it = db.iterator({ gte, lt }) as never;
  }

  async peek(): Promise<[Bytes, Bytes] | undefined> {
    if (this.#at < this.#page.length) return this.#page[this.#at];
    if (this.#done) return undefined;
    this.#page = (await this.#it.nextv(256)).map(([k, v]) => [plain(k), plain(v)]);
    this.#at = 0;
    if (this.#page.length === 0) this.#done = true;
    return this.#page[0];
  }

  shift(): void {
    this.#at++;
  }

  close(): Promise<void> {
    return this.#it.close();
  }
}
