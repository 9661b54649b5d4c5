// Pub/sub pattern text: what PSUBSCRIBE patterns are built from.

/** A literal string inside a (P)SUBSCRIBE glob pattern: its *, ?, [, ] and \ escaped (a hash tag's braces are literal already). */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}
