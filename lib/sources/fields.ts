import { parseInstant } from "../model/time.js";
import { MalformedResponseError } from "./http.js";

/** A string or number from a vendor as text; empty and absent values are undefined. */
export function optionalText(value: unknown): string | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "string" && value.trim() !== "") return value.trim();
  return undefined;
}

export function requiredText(value: unknown, call: string, field: string): string {
  const text = optionalText(value);
  if (text === undefined) throw new MalformedResponseError(call, field, "is missing");
  return text;
}

/** A time in any shape parseInstant reads; absent is fine, unreadable is a malformed page. */
export function optionalInstant(value: unknown, call: string, field: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const instant = parseInstant(value);
  if (!instant) throw new MalformedResponseError(call, field, `${JSON.stringify(value)} is not a time`);
  return instant;
}

/** The most names kept for one certificate: more than any CA issues, few enough for one stored item. */
export const MAX_NAMES = 500;

/** And the most characters they may take together, well inside DynamoDB's 400 KB item. */
const MAX_NAME_CHARS = 50_000;

/** Control characters and line or paragraph separators: no certificate name holds one, a forged message line does. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** A name a certificate can carry: no control character, and no longer than a DNS name (or `max`). */
function isPlausibleName(name: string, max = 253): boolean {
  return name.length > 0 && name.length <= max && !CONTROL.test(name);
}

/** The first names that fit MAX_NAMES and MAX_NAME_CHARS. */
function withinBudget<T>(items: T[], nameOf: (item: T) => string): T[] {
  let chars = 0;
  const kept: T[] = [];
  for (const item of items) {
    chars += nameOf(item).length;
    if (kept.length >= MAX_NAMES || chars > MAX_NAME_CHARS) break;
    kept.push(item);
  }
  return kept;
}

const itself = (name: string) => name;

/**
 * Comma- or semicolon-separated domain lists, merged, trimmed and without repeats. Names no certificate can carry
 * (control characters, longer than a DNS name) are left out, and no more than MAX_NAMES and MAX_NAME_CHARS kept.
 */
export function domainList(...values: unknown[]): string[] {
  const all = values.flatMap((value) => (typeof value === "string" ? value.split(/[;,]/) : []));
  const names = all.map((domain) => domain.trim()).filter((name) => isPlausibleName(name));
  return withinBudget([...new Set(names)], itself);
}

export function requiredInstant(value: unknown, call: string, field: string): string {
  const instant = optionalInstant(value, call, field);
  if (instant === undefined) throw new MalformedResponseError(call, field, "is missing");
  return instant;
}

/** A JSON array of strings (a list the vendor returns as a real array); absent is empty; names as `domainList` keeps them. */
export function stringArray(value: unknown, call: string, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new MalformedResponseError(call, field, "is not a list of strings");
  }
  const names = value.map((item: string) => item.trim()).filter((name) => isPlausibleName(name));
  return withinBudget(names, itself);
}

/** Subject alternative names by kind, as X.509 GeneralName types number them (1 email, 2 DNS, 6 URI, 7 IP). */
export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
  /** Names left out: control characters, too long, or past MAX_NAMES or MAX_NAME_CHARS. */
  dropped: number;
}

type SanKind = "dns" | "ip" | "email" | "uri";

const SAN_KINDS: Record<number, SanKind> = { 1: "email", 2: "dns", 6: "uri", 7: "ip" };

/**
 * Alibaba private-CA `Sans`: a string holding a JSON array of `{"Type": n, "Value": "..."}`. The vendor's own
 * example ends the array with a trailing comma, which JSON refuses: that one slip is forgiven, nothing else is.
 */
export function jsonSans(value: unknown, call: string, field: string): SubjectAltNames {
  const sans: SubjectAltNames = { dns: [], ip: [], email: [], uri: [], dropped: 0 };
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === ""))
    return sans;
  if (typeof value !== "string") throw new MalformedResponseError(call, field, "is not a string");
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.replace(/,\s*\]\s*$/, "]"));
  } catch {
    throw new MalformedResponseError(call, field, "is not a JSON array of {Type, Value}");
  }
  if (!Array.isArray(parsed))
    throw new MalformedResponseError(call, field, "is not a JSON array of {Type, Value}");
  const plausible: { kind: SanKind; name: string }[] = [];
  parsed.forEach((entry: unknown, index) => {
    const { Type: type, Value: text } = (entry ?? {}) as Record<string, unknown>;
    if (typeof type !== "number" || typeof text !== "string") {
      throw new MalformedResponseError(call, `${field}[${index}]`, "is not a {Type, Value} pair");
    }
    const kind = SAN_KINDS[type];
    const name = text.trim();
    if (!kind || !name) return;
    // An email or URI may be longer than a DNS name, never unbounded.
    if (isPlausibleName(name, kind === "dns" || kind === "ip" ? 253 : 1024)) plausible.push({ kind, name });
    else sans.dropped++;
  });
  const kept = withinBudget(plausible, (san) => san.name);
  for (const { kind, name } of kept) sans[kind].push(name);
  sans.dropped += plausible.length - kept.length;
  return sans;
}
