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
