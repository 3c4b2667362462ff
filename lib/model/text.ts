/*
 * Text from the clouds and from users (names, domains, ids, statuses, error texts) made safe to show: one line,
 * no control characters, a bounded length. Each output escapes it for its own syntax on top.
 */

/** C0 and C1 controls (ESC, BEL, CSI...), DEL, and the Unicode line and paragraph separators. */
const CONTROLS = /[\p{Cc}\p{Zl}\p{Zp}]+/gu;

/** Bidi marks, embeddings, overrides and isolates: invisible, yet they reorder what is shown (Trojan Source). */
const BIDI = "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";
/**
 * Every invisible format character (Unicode Cf: the bidi controls above, zero-width spaces and joiners, soft
 * hyphens, word joiners, tag characters): they reorder what is shown, or let two different names look the same.
 */
const INVISIBLE = /\p{Cf}/gu;

/**
 * Untrusted text on one line: controls and line breaks (which could forge lines or drive a terminal) become one
 * space, invisible format characters are dropped.
 */
export function oneLine(text: string): string {
  return text.replace(CONTROLS, " ").replace(INVISIBLE, "");
}

const ELLIPSIS = "…";

export interface FitOptions {
  /** How the output escapes one character; the cap counts what it makes. */
  escape?: (char: string) => string;
  /** Count UTF-8 bytes rather than UTF-16 code units (JavaScript's and Slack's characters). */
  bytes?: boolean;
}

/**
 * At most `max` units of `text` once escaped, cut between characters and the cut marked with an ellipsis. Every
 * escaper used with it works character by character, so escaping a prefix is escaping each of its characters.
 */
export function fit(text: string, max: number, options: FitOptions = {}): string {
  const { escape = (char: string) => char, bytes = false } = options;
  const size = bytes ? (piece: string) => Buffer.byteLength(piece) : (piece: string) => piece.length;
  const room = max - size(ELLIPSIS);
  let whole = "";
  let kept = "";
  let used = 0;
  for (const char of text) {
    const piece = escape(char);
    used += size(piece);
    if (used > max) return `${kept}${ELLIPSIS}`;
    whole += piece;
    if (used <= room) kept = whole;
  }
  return whole;
}

/**
 * Full-width look-alikes of characters that make markup on chat platforms (Slack included) that have no escape
 * syntax for them: every client shows them as text, and a reader still sees the character that was there.
 */
const LOOKALIKE: Record<string, string> = {
  "\\": "＼",
  "`": "｀",
  "*": "＊",
  _: "＿",
  "~": "～",
  "[": "［",
  "]": "］",
  "<": "＜",
  ">": "＞",
  "@": "＠",
  "&": "＆",
  "#": "＃",
  "|": "｜",
};

/** Each character `specials` (a global pattern over LOOKALIKE's keys) matches, replaced by its look-alike. */
export function lookalikes(text: string, specials: RegExp): string {
  return text.replace(specials, (char) => LOOKALIKE[char] ?? char);
}

/** Characters no POSIX shell gives a meaning to, anywhere in an argument. */
const SHELL_SAFE = /^[A-Za-z0-9_.:/@%+=,-]+$/;

/**
 * One word of a command line shown to people to paste into a shell: as it is when it holds only safe characters,
 * otherwise single-quoted, where nothing is special but the quote itself (written `'\''`).
 */
export function shellWord(text: string): string {
  return SHELL_SAFE.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

/**
 * One CSV field. A value a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, or a tab or
 * carriage return, which become spaces here) gets a leading single quote, as OWASP advises for CSV injection;
 * then RFC 4180 quoting: a field with a comma or quote is quoted and its quotes doubled.
 */
export function csvField(text: string): string {
  const line = oneLine(text);
  const inert = /^\s*[=+\-@]/.test(line) ? `'${line}` : line;
  // `;` too: spreadsheets in many locales split on it, and a formula could start after one.
  return /[",;]/.test(inert) ? `"${inert.replace(/"/g, '""')}"` : inert;
}

/** What JSON.stringify leaves raw that a terminal or a reader acts on: DEL, C1 controls, line separators, bidi. */
const JSON_RAW_CONTROLS = new RegExp(`[\\u007f-\\u009f\\u2028\\u2029${BIDI}]`, "g");

/**
 * JSON text with each character `chars` (a global pattern) matches written as a \u escape: the values read back
 * exactly. Safe on the whole text, as only strings can hold such characters.
 */
export function escapeInJson(json: string, chars: RegExp = JSON_RAW_CONTROLS): string {
  return json.replace(chars, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
