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

/** Comma- or semicolon-separated domain lists, merged, trimmed and without repeats. */
export function domainList(...values: unknown[]): string[] {
  const all = values.flatMap((value) => (typeof value === "string" ? value.split(/[;,]/) : []));
  return [...new Set(all.map((domain) => domain.trim()).filter(Boolean))];
}

export function requiredInstant(value: unknown, call: string, field: string): string {
  const instant = optionalInstant(value, call, field);
  if (instant === undefined) throw new MalformedResponseError(call, field, "is missing");
  return instant;
}

/** A JSON array of strings (a list the vendor returns as a real array); absent is empty. */
export function stringArray(value: unknown, call: string, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new MalformedResponseError(call, field, "is not a list of strings");
  }
  return value.map((item: string) => item.trim()).filter(Boolean);
}

/** Subject alternative names by kind, as X.509 GeneralName types number them (1 email, 2 DNS, 6 URI, 7 IP). */
export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

const SAN_KINDS: Record<number, keyof SubjectAltNames> = { 1: "email", 2: "dns", 6: "uri", 7: "ip" };

/**
 * Alibaba private-CA `Sans`: a string holding a JSON array of `{"Type": n, "Value": "..."}`. The vendor's own
 * example ends the array with a trailing comma, which JSON refuses: that one slip is forgiven, nothing else is.
 */
export function jsonSans(value: unknown, call: string, field: string): SubjectAltNames {
  const sans: SubjectAltNames = { dns: [], ip: [], email: [], uri: [] };
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
  parsed.forEach((entry: unknown, index) => {
    const { Type: type, Value: text } = (entry ?? {}) as Record<string, unknown>;
    if (typeof type !== "number" || typeof text !== "string") {
      throw new MalformedResponseError(call, `${field}[${index}]`, "is not a {Type, Value} pair");
    }
    const kind = SAN_KINDS[type];
    if (kind && text.trim()) sans[kind].push(text.trim());
  });
  return sans;
}
