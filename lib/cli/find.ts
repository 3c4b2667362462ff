import { fit, oneLine } from "../model/text.js";
import type { Observation } from "../model/types.js";
import { UsageError } from "./context.js";

/** How a text names an object, the most exact first: see `namedBy`. */
export type NamedBy = "key" | "id" | "domain" | "name";

/** What `history` and `ack` take, in their help and errors. */
export const NAMING_FORMS =
  "an alert fingerprint (as messages show it), an object key (source/kind/id), a native id, a domain or a name";

/** How much of a key or name a listing shows, and how many choices it lists. */
const LISTED_CHARS = 100;
const LISTED_CHOICES = 20;

/** The rule and object key of an alert fingerprint: `rule:source/kind/id`, as every message's ack command has it. */
export function fingerprintParts(text: string): { rule: string; key: string } | undefined {
  const [, rule, key] = /^([a-z][a-z-]*):(.+)$/.exec(text) ?? [];
  return rule && key ? { rule, key } : undefined;
}

/**
 * How `wanted` names the observation, if it does: by its key or a fingerprint of one of its alerts, its native id,
 * one of its domains or its name (these two in any case), as messages and reports show them. A domain ranks above
 * a name because a certificate is often named after its common name.
 */
export function namedBy(observation: Observation, wanted: string): NamedBy | undefined {
  if (observation.key === wanted || fingerprintParts(wanted)?.key === observation.key) return "key";
  if (observation.nativeId === wanted) return "id";
  const needle = wanted.toLowerCase();
  if (observation.domains.some((domain) => domain.toLowerCase() === needle)) return "domain";
  if (observation.name.toLowerCase() === needle) return "name";
  return undefined;
}

/**
 * Refuses a name that fits several objects or alerts: lists each (its handle, then what a person recognises) and
 * asks for the handle of the one meant. Names come from the clouds: one line each, cut.
 */
export function ambiguous(
  wanted: string,
  handle: "key" | "fingerprint",
  choices: [string, string][],
): UsageError {
  const what = { key: "objects", fingerprint: "firing alerts" }[handle];
  const shown = (text: string) => fit(oneLine(text), LISTED_CHARS);
  return new UsageError(
    [
      `${shown(wanted)} names ${choices.length} ${what}; give the ${handle} of the one you mean:`,
      ...choices.slice(0, LISTED_CHOICES).map(([id, description]) => `  ${shown(id)}  ${shown(description)}`),
      ...(choices.length > LISTED_CHOICES ? [`  ... and ${choices.length - LISTED_CHOICES} more`] : []),
    ].join("\n"),
  );
}
