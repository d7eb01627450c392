/**
 * One page of a RunScript output. Offsets count UTF-16 code units (JavaScript string indices); a page
 * never ends between the two halves of a surrogate pair, so every `next` offset starts a whole character.
 */
export interface OutputPage {
  text: string;
  /** Where the next page starts, or null when this page reaches the end. */
  next: number | null;
}

export function pageOutput(output: string, offset: number, maxChars: number): OutputPage {
  let end = Math.min(output.length, offset + maxChars);
  if (end < output.length && end - 1 > offset && isHighSurrogate(output.charCodeAt(end - 1))) end -= 1;
  return { text: output.slice(offset, end), next: end < output.length ? end : null };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
