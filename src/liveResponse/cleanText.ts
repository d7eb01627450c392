/**
 * Text from a device, made safe to hand to a model or a terminal. A device controls its script
 * output, its errors, its file names and its own name, and can use all of them to hide text from the
 * person reading along while the model still reads it, or to make text look other than it is:
 *
 * - terminal escape sequences (CSI `ESC [ … final`, OSC/DCS/APC/PM/SOS strings up to BEL or ST, the
 *   short `ESC x` forms, and their 8-bit C1 twins) are removed whole, so an OSC 8 link loses its
 *   hidden URL and `ESC [8m` (concealed) text becomes plain visible text;
 * - every other C0/C1 control character goes (NUL padding, which RunScript transcripts end in, reference
 *   §3.4, included); newlines and tabs stay. `\r\n`, a lone `\r` (which would let a line overwrite the one
 *   before it on a terminal) and the Unicode line and paragraph separators become `\n`;
 * - bidirectional controls (U+202A–U+202E, U+2066–U+2069, the LRM/RLM/ALM marks), which reorder what a
 *   reader sees (`invoice‮fdp.exe`), are removed;
 * - invisible characters used to smuggle or split text are removed: zero-width space and joiners,
 *   word joiner, invisible operators, BOM, soft hyphen, interlinear annotations, Unicode tag characters
 *   (ASCII written invisibly) and variation selectors (bytes hidden after a visible character). Emoji
 *   sequences fall apart into their parts, and some scripts lose their joining hints: a fair price for
 *   text that says what it looks like.
 *
 * The result contains none of these, so cleaning is idempotent: cleaned text can be cleaned again, or
 * cut into pages, without changing.
 */

/* eslint-disable no-control-regex -- matching control characters and escape sequences is the point */
const CSI = /(?:\u001b\[|\u009b)[\u0030-\u003f]*[\u0020-\u002f]*[\u0040-\u007e]/g;
/**
 * OSC, DCS, SOS, PM and APC strings, only when terminated (an unterminated one is left for the
 * introducer to be removed below, so its text shows). The body stops at any ESC, BEL or C1 character,
 * which keeps matching linear on hostile input.
 */
const CONTROL_STRING =
  /(?:\u001b[\]PX^_]|[\u0090\u0098\u009d\u009e\u009f])[^\u0007\u001b\u0080-\u009f]*(?:\u0007|\u001b\\|\u009c)/g;
/** The remaining escapes: intermediates, then one final character (`ESC ( B`, `ESC 7`, `ESC c`, …). */
const OTHER_ESCAPE = /\u001b[\u0020-\u002f]*[\u0030-\u007e]/g;
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const LINE_SEPARATORS = /\r\n?|[\u2028\u2029]/g;
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */
const INVISIBLE_CHARACTERS =
  // eslint-disable-next-line no-misleading-character-class -- joiners and selectors are listed alone on purpose, to remove them
  /[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufe00-\ufe0f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}\u{e0100}-\u{e01ef}]/gu;

/** A device name, tag or file name: a DNS name is at most 253 characters, a Windows file name 255. */
export const NAME_MAX_CHARS = 255;
/** One error or message from a device or from Defender about it. */
export const MESSAGE_MAX_CHARS = 1_000;

export function cleanText(text: string): string {
  return text
    .replace(LINE_SEPARATORS, "\n")
    .replace(CSI, "")
    .replace(CONTROL_STRING, "")
    .replace(OTHER_ESCAPE, "")
    .replace(CONTROL_CHARACTERS, "")
    .replace(BIDI_CONTROLS, "")
    .replace(INVISIBLE_CHARACTERS, "");
}

/**
 * `text` cut to at most `maxChars` characters, saying how long it was; shorter text is returned as
 * it is. The result never exceeds `maxChars`, so cutting again changes nothing.
 */
export function capText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const marker = `… [cut: ${text.length} characters in all]`;
  let kept = Math.max(0, maxChars - marker.length);
  // Never leave half of a surrogate pair at the cut.
  if (kept > 0 && /[\ud800-\udbff]/.test(text.charAt(kept - 1))) kept -= 1;
  return kept === 0 ? text.slice(0, maxChars) : `${text.slice(0, kept)}${marker}`;
}

/** One line of device text (a name, a path, an error), cleaned and capped: line breaks and tabs become spaces. */
export function cleanLine(text: string, maxChars: number): string {
  return capText(cleanText(text).replace(/[\n\t]+/g, " "), maxChars);
}
