/**
 * README's generated blocks: text between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->` is written by
 * the bench (`latest`: the last complete run's tables; `tally`: every complete run against the targets), never by hand.
 */
import { readFile, writeFile } from 'node:fs/promises';

export function blockMarkers(name: string): { begin: string; end: string } {
  return { begin: `<!-- bench:${name}:begin -->`, end: `<!-- bench:${name}:end -->` };
}

/** Where the block's body starts and ends in `text` (its markers excluded); throws when a marker is missing. */
function bodyBounds(text: string, name: string): [number, number] {
  const { begin, end } = blockMarkers(name);
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md has no ${begin} ... ${end} block`);
  return [i + begin.length, j];
}

/** The block's body as README has it (without the markers and the newlines next to them). */
export function readBlock(text: string, name: string): string {
  const [i, j] = bodyBounds(text, name);
  return text.slice(i, j).replace(/^\n/, '').replace(/\n$/, '');
}

export function replaceBlock(text: string, name: string, body: string): string {
  const [i, j] = bodyBounds(text, name);
  return `${text.slice(0, i)}\n${body}\n${text.slice(j)}`;
}

export async function rewriteReadmeBlock(name: string, body: string, path = 'README.md'): Promise<void> {
  await writeFile(path, replaceBlock(await readFile(path, 'utf8'), name, body));
}
