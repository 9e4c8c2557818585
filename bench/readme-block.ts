/**
 * README's generated blocks: text between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->` is written by
 * the bench (`latest`: the last complete run's tables; `tally`: every complete run against the targets), never by hand.
 */
import { readFile, writeFile } from 'node:fs/promises';

export function blockMarkers(name: string): { begin: string; end: string } {
  return { begin: `<!-- bench:${name}:begin -->`, end: `<!-- bench:${name}:end -->` };
}

/** The block's body as README has it (without the markers and the newlines next to them). */
export function readBlock(text: string, name: string): string {
  const { begin, end } = blockMarkers(name);
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md has no ${begin} ... ${end} block`);
  return text.slice(i + begin.length, j).replace(/^\n/, '').replace(/\n$/, '');
}

export function replaceBlock(text: string, name: string, body: string): string {
  readBlock(text, name); // throws when the markers are missing
  const { begin, end } = blockMarkers(name);
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  return `${text.slice(0, i + begin.length)}\n${body}\n${text.slice(j)}`;
}

export async function rewriteReadmeBlock(name: string, body: string, path = 'README.md'): Promise<void> {
  await writeFile(path, replaceBlock(await readFile(path, 'utf8'), name, body));
}
