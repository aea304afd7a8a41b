// The README's code blocks, as the tests run them: "a command it prints is run by a test".
import { readFileSync } from 'node:fs';

export const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Every fenced code block, in order, with the heading it sits under. */
export function readmeBlocks(): { heading: string; text: string }[] {
  const out: { heading: string; text: string }[] = [];
  let heading = '';
  const lines = README.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#{1,4} /.test(l)) heading = l.replace(/^#+ /, '');
    if (!l.startsWith('```')) continue;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    out.push({ heading, text: `${body.join('\n')}\n` });
  }
  return out;
}

/** The one block under `heading` that holds `marker` (a test fails loudly when the README moved it). */
export function readmeBlock(heading: string, marker: string): string {
  const found = readmeBlocks().filter((b) => b.heading === heading && b.text.includes(marker));
  if (found.length !== 1)
    throw new Error(`README: ${found.length} blocks under "${heading}" hold ${JSON.stringify(marker)}`);
  return found[0]!.text;
}

/** The command lines of a block: comments and blank lines dropped, `\` continuations joined. */
export function commandLines(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}
