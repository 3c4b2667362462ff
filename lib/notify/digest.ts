import type { Alert, Severity } from "../model/types.js";
import { severityRank } from "../model/types.js";

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

/** `2 critical, 5 warning, 1 resolved` */
export function headline(alerts: Alert[]): string {
  const counts = countBySeverity(alerts);
  const parts = (["critical", "warning", "info", "resolved"] as const)
    .filter((key) => counts[key] > 0)
    .map((key) => `${counts[key]} ${key}`);
  return parts.length > 0 ? parts.join(", ") : "nothing new";
}

export interface AlertFacts {
  /** The certificate's name and, when different, its first domain. */
  title: string;
  domains: string;
  what: string;
  where: string;
  when: string;
  state: string;
  action: string;
  /** The command that acknowledges a firing alert; empty for resolutions. */
  ack: string;
}

const MAX_DOMAINS = 3;

function action(alert: Alert): string {
  if (alert.transition === "resolved") return "nothing to do";
  if (alert.rule === "source-health")
    return "check the source's credentials, permissions and endpoint: certwatch validate";
  if (alert.rule === "stale") return "check that the scheduled sweep runs and can reach the source";
  const { successor } = alert.object;
  if (alert.rule === "expiry" && successor) {
    return `activate the new one: inactive certificate ${successor.nativeId} is valid until ${successor.notAfter.slice(0, 10)}`;
  }
  if (alert.rule === "revocation") return "replace the certificate wherever it is deployed";
  if (alert.rule === "deployment") {
    const job = alert.object.details?.jobId;
    if (alert.stage === "stuck") return `check deployment job ${job} in the CAS console`;
    return `fix the cause, then redeploy job ${job}'s failed workers`;
  }
  if (alert.stage === "expired") return "renew or replace it now; clients are failing";
  return "renew the certificate and deploy the new one";
}

/** Vendor details worth a reader's eye, in a fixed order; bookkeeping ones (ids used for matching) stay out. */
const SHOWN_DETAILS = ["job", "resource", "certificate", "application", "issuer"];

function shownDetails(alert: Alert): string[] {
  const details = alert.object.details ?? {};
  return SHOWN_DETAILS.filter((key) => details[key]).map((key) => `${key} ${details[key]}`);
}

/** The plain facts of an alert; receivers escape and lay them out for their channel. */
export function facts(alert: Alert): AlertFacts {
  const { object } = alert;
  const shown = object.domains.slice(0, MAX_DOMAINS).join(", ");
  const more = object.domains.length > MAX_DOMAINS ? ` +${object.domains.length - MAX_DOMAINS} more` : "";
  const { labels } = object;
  const where = [labels.provider, labels.product, labels.region, `source ${labels.source}`, labels.account]
    .filter(Boolean)
    .join(" · ");
  return {
    title: object.name,
    domains: shown ? `${shown}${more}` : (object.details?.application ?? "(no domain)"),
    what: [
      `${object.kind} ${object.nativeId} (${object.rawStatus || object.status})`,
      ...shownDetails(alert),
    ].join(" · "),
    where,
    when: alert.staleSince
      ? `${alert.summary} (source unreachable: as last seen ${alert.staleSince.slice(0, 16).replace("T", " ")} UTC)`
      : alert.summary,
    state: alert.transition === "reminder" ? `reminder ${alert.reminder ?? ""}`.trim() : alert.transition,
    action: action(alert),
    ack:
      alert.transition === "resolved"
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
