import { fit, oneLine, shellWord } from "../model/text.js";
import type { Alert, Labels, Severity } from "../model/types.js";
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
/** Enough of one label (`team=payments`) to recognise it; several stay within FACT_CHARS.where. */
const LABEL_CHARS = 60;
/** Labels certwatch sets itself, shown in words of their own (the application in `what`); the rest are the user's. */
const OWN_LABELS = new Set(["source", "provider", "product", "region", "account", "application"]);
/** Enough of a host name to recognise it; three of them leave the count of the others within FACT_CHARS.domains. */
const DOMAIN_CHARS = 90;

/**
 * The most characters each fact may take, cut with an ellipsis beyond: a name or error text of any length leaves
 * the expiry, the action and the ack command in the message. With Slack's markup they fit one section (3,000
 * characters), which is where the tightest budget is.
 */
export const FACT_CHARS: Record<keyof AlertFacts, number> = {
  title: 200,
  domains: 300,
  what: 400,
  where: 300,
  when: 400,
  state: 50,
  action: 700,
  ack: 500,
};

/**
 * The labels a source's config gave its objects (`team=payments · owner=alice`), so that a message says whose it
 * is. By name: a store need not keep their order. Each capped, so that one long label leaves the others in view.
 */
function userLabels(labels: Labels): string[] {
  return Object.entries(labels)
    .filter(([name, value]) => !OWN_LABELS.has(name) && value)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => fit(oneLine(`${name}=${value}`), LABEL_CHARS));
}

/** Vendor details worth a reader's eye, in a fixed order; bookkeeping ones (ids used for matching) stay out. */
const SHOWN_DETAILS = ["job", "resource", "certificate", "application", "issuer"];

/**
 * The plain facts of an alert in the receiver's language, each on one line and capped (FACT_CHARS), as untrusted
 * text: receivers escape and lay them out for their channel.
 */
export function facts(alert: Alert, language: Language = "en"): AlertFacts {
  const words = messages[language];
  const { object } = alert;
  const { labels } = object;
  const details = object.details ?? {};
  const shown = object.domains
    .slice(0, MAX_DOMAINS)
    .map((domain) => fit(domain, DOMAIN_CHARS))
    .join(", ");
  const more =
    object.domains.length > MAX_DOMAINS ? ` ${words.more(object.domains.length - MAX_DOMAINS)}` : "";
  const where = [
    labels.provider,
    labels.product,
    labels.region,
    words.source(labels.source),
    labels.account,
    ...userLabels(labels),
  ]
    .filter(Boolean)
    .join(" · ");
  const what = [
    `${words.kind[object.kind]} ${object.nativeId} (${object.rawStatus || object.status})`,
    ...SHOWN_DETAILS.filter((key) => details[key]).map((key) => `${words.detail[key]} ${details[key]}`),
  ].join(" · ");
  const plain: AlertFacts = {
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
        : `certwatch ack ${shellWord(alert.fingerprint)} --until <time> --reason <text>`,
  };
  const capped = { ...plain };
  for (const key of Object.keys(plain) as (keyof AlertFacts)[]) {
    capped[key] = fit(oneLine(plain[key]), FACT_CHARS[key]);
  }
  return capped;
}

/**
 * Slack mrkdwn treats `&`, `<` and `>` as control characters and has entities for them, its only escapes; the
 * Slack receiver makes emphasis markers in untrusted text look-alikes.
 */
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
