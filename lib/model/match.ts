import type { Matcher } from "../config/schema.js";
import type { RuleResult } from "./types.js";

/** `*` matches any run of characters, `?` any one; everything else is literal and case-insensitive. */
export function globMatches(pattern: string, text: string): boolean {
  const expression = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${expression}$`, "i").test(text);
}

/**
 * A sweep unit is named after its source (`ali-ssl`, `ali-ssl.2` for the source's second endpoint): a route or a
 * silence for the source covers every unit of it, and one for a unit only that unit.
 */
function sourceMatches(pattern: string, unit: string): boolean {
  return globMatches(pattern, unit) || globMatches(pattern, unit.split(".")[0] ?? unit);
}

/** True when the alert satisfies every field the matcher sets (an empty matcher matches everything). */
export function matches(matcher: Matcher, alert: RuleResult): boolean {
  const { object } = alert;
  if (matcher.severity && matcher.severity !== alert.severity) return false;
  if (matcher.source && !sourceMatches(matcher.source, object.labels.source)) return false;
  if (matcher.provider && !globMatches(matcher.provider, object.labels.provider)) return false;
  if (matcher.kind && !globMatches(matcher.kind, object.kind)) return false;
  if (matcher.domain) {
    const pattern = matcher.domain;
    if (!object.domains.some((domain) => globMatches(pattern, domain))) return false;
  }
  if (matcher.account) {
    const pattern = matcher.account;
    const { account, accountName } = object.labels;
    if (![account, accountName].some((value) => value !== undefined && globMatches(pattern, value)))
      return false;
  }
  for (const [name, pattern] of Object.entries(matcher.labels ?? {})) {
    const value = object.labels[name];
    if (value === undefined || !globMatches(pattern, value)) return false;
  }
  return true;
}
