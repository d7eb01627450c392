/**
 * Text from a device, made safe to hand to a model or a terminal: NUL padding (RunScript transcripts
 * end in NULs, reference §3.4) and every other C0/C1 control character are removed, so a terminal
 * escape sequence loses its ESC and is inert; newlines and tabs stay. Windows line endings become
 * `\n`, and so does a lone carriage return, which would let a line overwrite the one before it on a terminal.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

export function cleanText(text: string): string {
  return text.replace(/\r\n?/g, "\n").replace(CONTROL_CHARACTERS, "");
}
