/**
 * What the CLI prints comes partly from strangers: a caller-ID name is chosen by whoever calls, a transcript
 * by the LLM. Printed raw, `ESC [2J` clears the operator's screen and `ESC ]0;...BEL` retitles it (worse on
 * terminals that honour more). So every character a terminal acts on instead of showing is printed as an
 * escape: C0 controls, DEL, C1 controls, and the Unicode bidi overrides and line separators that reorder or
 * break what is shown. Everything else, accents included (Conceição), prints as is.
 */

// C0 except \n (the CLI's own line breaks), DEL, C1; ALM, LRM/RLM, LRE..RLO, LRI..PDI; LS/PS. Control
// characters are what these patterns are for.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

// C0 as \x1b (they never reach the output raw through JSON.stringify, so --json cannot be affected); the
// rest as \uXXXX, which is also a valid JSON escape of the same character: --json output stays parseable.
const escapeOne = (ch: string): string => {
  const code = ch.charCodeAt(0);
  if (code === 0x0a) return '\\n';
  if (code < 0x20) return `\\x${code.toString(16).padStart(2, '0')}`;
  return `\\u${code.toString(16).padStart(4, '0')}`;
};

/** `text` with every terminal control escaped, its line breaks kept: what the CLI writes goes through this. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/** One value on one line: like terminalSafe, and a line break in the value shows as `\n` too. */
export function terminalSafeLine(text: string): string {
  return text.replace(UNSAFE_OR_NEWLINE, escapeOne);
}
