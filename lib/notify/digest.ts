import type { Alert, Severity } from "../model/types.js";
import { severityRank } from "../model/types.js";
import { type Language, messages } from "./messages.js";

/** One message's worth of alerts for one receiver. */
export interface Digest {
  alerts: Alert[];
  generatedAt: string;
  /** Set when a digest is split over several messages. */
  part?: { index: number; count: number };
  /** A `certwatch test-notify` message: says so loudly and carries no real alerts. */
  test?: boolean;
}

/** Most severe first, then soonest to break; resolved notices last. */
export function compareAlerts(a: Alert, b: Alert): number {
  const order = (alert: Alert) => (alert.transition === "resolved" ? 3 : severityRank[alert.severity]);
  return (
    order(a) - order(b) ||
    (a.daysLeft ?? Number.POSITIVE_INFINITY) - (b.daysLeft ?? Number.POSITIVE_INFINITY) ||
    a.object.name.localeCompare(b.object.name)
  );
}

export function sortAlerts(alerts: Alert[]): Alert[] {
  return [...alerts].sort(compareAlerts);
}

export function countBySeverity(alerts: Alert[]): Record<Severity | "resolved", number> {
  const counts = { critical: 0, warning: 0, info: 0, resolved: 0 };
  for (const alert of alerts) {
    if (alert.transition === "resolved") counts.resolved++;
    else counts[alert.severity]++;
  }
  return counts;
}

/** `2 critical, 5 warning, 1 resolved`, in the receiver's language. */
export function headline(alerts: Alert[], language: Language = "en"): string {
  const counts = countBySeverity(alerts);
  const present = (["critical", "warning", "info", "resolved"] as const)
    .filter((key) => counts[key] > 0)
    .map((key) => ({ key, count: counts[key] }));
  const words = messages[language];
  return present.length > 0 ? words.counts(present) : words.nothingNew;
}

/** The severity label of an alert, or "resolved". */
export function label(alert: Alert, language: Language = "en"): string {
  return messages[language].severity[alert.transition === "resolved" ? "resolved" : alert.severity];
}

export interface AlertFacts {
  title: string;
  domains: string;
  what: string;
  where: string;
  when: string;
  state: string;
  action: string;
  /** The command that acknowledges a firing alert; empty for resolutions and redeploy notices (never repeated). */
  ack: string;
}

const MAX_DOMAINS = 3;

/** Vendor details worth a reader's eye, in a fixed order; bookkeeping ones (ids used for matching) stay out. */
const SHOWN_DETAILS = ["job", "resource", "certificate", "application", "issuer"];

/** The plain facts of an alert in the receiver's language; receivers escape and lay them out for their channel. */
export function facts(alert: Alert, language: Language = "en"): AlertFacts {
  const words = messages[language];
  const { object } = alert;
  const { labels } = object;
  const details = object.details ?? {};
  const shown = object.domains.slice(0, MAX_DOMAINS).join(", ");
  const more =
    object.domains.length > MAX_DOMAINS ? ` ${words.more(object.domains.length - MAX_DOMAINS)}` : "";
  const where = [labels.provider, labels.product, labels.region, words.source(labels.source), labels.account]
    .filter(Boolean)
    .join(" · ");
  const what = [
    `${words.kind[object.kind]} ${object.nativeId} (${object.rawStatus || object.status})`,
    ...SHOWN_DETAILS.filter((key) => details[key]).map((key) => `${words.detail[key]} ${details[key]}`),
  ].join(" · ");
  return {
    title: object.name,
    domains: shown ? `${shown}${more}` : (details.application ?? words.noDomain),
    what,
    where,
    when: words.when(alert),
    state: words.transition(alert),
    action: words.action(alert),
    ack:
      alert.transition === "resolved" || alert.rule === "redeploy"
        ? ""
        : `certwatch ack ${alert.fingerprint} --until <time> --reason <text>`,
  };
}

/** Slack mrkdwn treats `&`, `<` and `>` as control characters: escape them and nothing else. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}
