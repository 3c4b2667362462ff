import type { Matcher } from "../config/schema.js";
import type { RuleResult } from "./types.js";

/** `*` matches any run of characters; everything else is literal and case-insensitive. */
export function globMatches(pattern: string, text: string): boolean {
  const escaped = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${escaped}$`, "i").test(text);
}

/** True when the alert satisfies every field the matcher sets (an empty matcher matches everything). */
export function matches(matcher: Matcher, alert: RuleResult): boolean {
  const { object } = alert;
  if (matcher.severity && matcher.severity !== alert.severity) return false;
  if (matcher.source && !globMatches(matcher.source, object.labels.source)) return false;
  if (matcher.provider && !globMatches(matcher.provider, object.labels.provider)) return false;
  if (matcher.kind && !globMatches(matcher.kind, object.kind)) return false;
  if (matcher.domain) {
    const pattern = matcher.domain;
    if (!object.domains.some((domain) => globMatches(pattern, domain))) return false;
  }
  for (const [name, pattern] of Object.entries(matcher.labels ?? {})) {
    const value = object.labels[name];
    if (value === undefined || !globMatches(pattern, value)) return false;
  }
  return true;
}
