/**
 * Text from a bundle or a gateway (a certificate's or revocation's subject, a gateway's error message), made safe to
 * show on the verifier's terminal (the CLI) and on the verifier page (web/): C0 and C1 control characters, DEL, and
 * bidi overrides and isolates are written as `\u{..}`, so that none can move the cursor, erase or conceal a line, or
 * reorder it (a crafted `\n\nVALID\n\x1b[8m` showed VALID above a concealed INVALID on a terminal; on the page a
 * right-to-left override showed a subject's text reversed). `lines`: newlines are kept (text the CLI itself made).
 */
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_NEWLINE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string, o: { lines?: boolean } = {}): string {
  return text.replace(o.lines ? CONTROLS_BUT_NEWLINE : CONTROLS, (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`);
}
