/**
 * Control characters a terminal acts on: C0 (CR, LF, TAB and ESC among them), DEL and C1, and
 * the line separators and bidirectional overrides that make text read other than it is.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Outside text (HighLevel's messages, ids read back from a queue, a file's cells) made safe for
 * a terminal or a spreadsheet cell: every control character is shown as an escape (`\x1b`,
 * `\r`, `\u202e`), so that nothing it holds can move the cursor, clear the screen, set the
 * window title or forge a line. Machine output (`--json`, JSONL) keeps the exact text instead.
 *
 * @example
 * printable("\u001b[2Jgone\r\nok") // "\\x1b[2Jgone\\r\\nok"
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (character) => {
    const named = NAMED[character];
    if (named) return named;
    const code = character.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
