/** Vendors send times in many shapes; everything leaves here as an ISO 8601 UTC instant. */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * Whole days in a span, counted toward zero: 6.9 days is 6, nobody is told they have more time than they do, and
 * 47.5 days past is 47, "expired 47 days ago". The one rounding rule of every day count a person reads.
 */
export function wholeDays(ms: number): number {
  // `|| 0`: under a day past expiry is day 0, not -0.
  return Math.trunc(ms / DAY_MS) || 0;
}

/** Whole days from `now` until `notAfter` (see wholeDays); negative once expired. */
export function daysLeft(notAfter: string, now: Date): number {
  return wholeDays(Date.parse(notAfter) - now.getTime());
}

/** `+08:00`, `-05:30`, `Z`: the fixed offsets a source's `timezone` may name. */
export const OFFSET_PATTERN = /^(Z|[+-](0\d|1[0-4]):[0-5]\d)$/;

function offsetMinutes(offset: string): number {
  if (offset === "Z") return 0;
  const sign = offset.startsWith("-") ? -1 : 1;
  const [hours, minutes] = offset.slice(1).split(":").map(Number);
  return sign * ((hours ?? 0) * 60 + (minutes ?? 0));
}

/**
 * Milliseconds since the epoch of a wall-clock time read as UTC, or undefined for one that does not exist: a month
 * 13 or a 30 February are refused, not rolled over into the next month, and a year below 100 stays that year.
 */
function wallClockMs(parts: (string | undefined)[]): number | undefined {
  const [y, mo, d, h = 0, mi = 0, s = 0, ms = 0] = parts.map((part) =>
    part === undefined ? undefined : Number(part),
  );
  const date = new Date(0);
  date.setUTCFullYear(y ?? NaN, (mo ?? NaN) - 1, d);
  date.setUTCHours(h, mi, s, ms);
  const exists =
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === (mo ?? 0) - 1 &&
    date.getUTCDate() === d &&
    date.getUTCHours() === h &&
    date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === s;
  return exists ? date.getTime() : undefined;
}

/**
 * Reads a zone-less wall-clock time such as Huawei SCM's `2021-05-27 16:46:25.0` in the given offset.
 * Returns undefined when the text is not of that shape or names a time that does not exist, so the caller can name
 * the field in its error.
 */
export function parseLocalTime(text: string, offset: string): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/.exec(text.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, frac] = match;
  const millis = frac ? Math.round(Number(`0.${frac}`) * 1000) : 0;
  const utc = wallClockMs([y, mo, d, h, mi, s, String(Math.min(millis, 999))]);
  if (utc === undefined) return undefined;
  return new Date(utc - offsetMinutes(offset) * 60_000).toISOString();
}

/** Parses durations such as `90s`, `15m`, `24h`, `7d` into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: HOUR_MS, d: DAY_MS }[match[2] as "ms" | "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

/** An HTTP Retry-After header in milliseconds: either delay-seconds or an HTTP date. */
export function retryAfterMs(
  header: string | string[] | null | undefined,
  now = Date.now(),
): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Below this a number is seconds since the epoch, at or above it milliseconds (2001-09-09 in ms). */
const MS_THRESHOLD = 1e12;

/**
 * Below this no number is a certificate's time: 1e8 seconds is 1973. What is below is something else that happens
 * to be numeric, such as a date written `20261201`, which read as seconds would be a false "expired" in 1970.
 */
const EARLIEST_SECONDS = 1e8;

/** The last instant a Date can hold (±8.64e15 ms); past it toISOString throws. */
const LATEST_MS = 8.64e15;

/**
 * Reads the time shapes vendors send, documented or not: epoch seconds or milliseconds as numbers or numeric
 * strings (told apart by magnitude), and ISO 8601 text, including minute precision (`2021-01-01T00:00Z`) and
 * bare dates (`2021-01-01`, read as UTC). Returns an ISO instant, or undefined for anything else.
 */
export function parseInstant(value: unknown): string | undefined {
  let millis: number | undefined;
  if (typeof value === "number" || (typeof value === "string" && /^\d+(\.\d+)?$/.test(value.trim()))) {
    const n = Number(value);
    if (!Number.isFinite(n) || n < EARLIEST_SECONDS) return undefined;
    millis = n >= MS_THRESHOLD ? n : n * 1000;
    if (millis > LATEST_MS) return undefined;
  } else if (
    typeof value === "string" &&
    /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())
  ) {
    const text = value.trim().replace(" ", "T");
    const [, y, mo, d, h, mi, s] =
      /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?/.exec(text) ?? [];
    // Date.parse rolls a 30 February over into March: a date that does not exist is refused instead.
    if (wallClockMs([y, mo, d, h, mi, s]) === undefined) return undefined;
    const zoned = text.length === 10 || /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`;
    millis = Date.parse(zoned);
  }
  return millis === undefined || Number.isNaN(millis) ? undefined : new Date(millis).toISOString();
}
