import { randomUUID } from "node:crypto";
import type { Config } from "./config/schema.js";
import { expandsAtRunTime, isNamed } from "./config/units.js";
import type { Alert } from "./model/types.js";
import { chunk, type DeliveryReport, deliverPending } from "./notify/deliver.js";
import { sortAlerts } from "./notify/digest.js";
import { type HeartbeatResult, sendHeartbeat } from "./notify/heartbeat.js";
import { createReceiver } from "./notify/index.js";
import type { Receiver } from "./notify/receiver.js";
import { moveNewsToLedger, type OrphanedReceiver, orphanedReceivers, receiversFor } from "./notify/route.js";
import { type RemediationReport, remediate } from "./remediate/index.js";
import { expandAccounts, knownUnits } from "./organizations.js";
import type { LedgerEntry } from "./store/ledger.js";
import { type News, type SourceReport, type SweepOptions, sweepSources } from "./sweep-source.js";
import { watchSources } from "./watch-unswept.js";

export interface AlertReport {
  fingerprint: string;
  stage: string;
  severity: Alert["severity"];
  transition: Alert["transition"];
  summary: string;
  name: string;
  domains: string[];
  notAfter?: string;
  daysLeft?: number;
  source: string;
  receivers: string[];
  silencedBy?: string;
}

/** What a dry run would send one receiver. */
export interface Preview {
  receiver: string;
  /** The alerts routed to it, and the messages they take (split at its `maxAlertsPerMessage`, as delivery does). */
  alerts: number;
  messages: number;
  /** The first PREVIEW_ALERTS of them as a person reads the message: enough to judge it, not a thousand alerts. */
  text: string;
  /** The exact body of every message, as `send` would deliver it. */
  payloads: string[];
}

/** How many alerts a dry run shows each receiver's message with. */
export const PREVIEW_ALERTS = 10;

function preview(receiver: Receiver, alerts: Alert[], generatedAt: string): Preview {
  const messages = chunk(alerts, receiver.maxAlertsPerMessage);
  return {
    receiver: receiver.name,
    alerts: alerts.length,
    messages: messages.length,
    text: receiver.preview({ alerts: alerts.slice(0, PREVIEW_ALERTS), generatedAt }),
    payloads: messages.map((batch, index) =>
      receiver.payload({ alerts: batch, generatedAt, part: { index: index + 1, count: messages.length } }),
    ),
  };
}

export interface RunSummary {
  runId: string;
  now: string;
  dryRun: boolean;
  sources: SourceReport[];
  alerts: AlertReport[];
  silenced: number;
  /** Reminders held back by an acknowledgement. */
  acknowledged: number;
  deliveries: DeliveryReport[];
  /** Receivers the config no longer names that notifications still wait for: the run fails until they are moved. */
  orphaned: OrphanedReceiver[];
  /** Dry run only: what each receiver would be sent. */
  previews?: Preview[];
  /** Set when a heartbeat URL is configured and the run swept every source. */
  heartbeat?: HeartbeatResult;
  /** Set when `remediation.redeployFailedWorkers` is on: the jobs it acted on, and how many wait for the next run. */
  remediation?: { jobs: RemediationReport[]; waiting: number };
  store: { readUnits: number; writeUnits: number };
  exitCode: 0 | 1;
}

function alertReport(alert: Alert, config: Config, silencedBy?: string): AlertReport {
  return {
    fingerprint: alert.fingerprint,
    stage: alert.stage,
    severity: alert.severity,
    transition: alert.transition,
    summary: alert.summary,
    name: alert.object.name,
    domains: alert.object.domains,
    notAfter: alert.object.notAfter,
    daysLeft: alert.daysLeft,
    source: alert.object.labels.source,
    receivers: silencedBy ? [] : receiversFor(alert, config),
    silencedBy,
  };
}

/**
 * Drains every receiver's pending ledger entries (plus `fresh` ones this process just recorded), after recording
 * what waits in the news inbox. One receiver's trouble, even a store error while marking, neither stops the others
 * nor loses the report.
 */
export async function deliverAll(
  options: Pick<SweepOptions, "config" | "store" | "now" | "receivers" | "leaseMs" | "redact">,
  runId: string,
  fresh: LedgerEntry[] = [],
): Promise<DeliveryReport[]> {
  const { config, store, now } = options;
  const redact = options.redact ?? String;
  const report = (receiver: string, errors: string[]): DeliveryReport => ({
    receiver,
    messages: 0,
    sent: 0,
    deferred: 0,
    failed: 0,
    errors,
  });
  const recorded = [...fresh];
  try {
    await moveNewsToLedger(store, recorded);
  } catch (caught) {
    // Sending what the ledger holds now could put a resolution before the alert it resolves, still in the inbox.
    const error = redact(
      `nothing sent: news waiting in the store could not all be recorded for delivery (${(caught as Error).message}); ` +
        "it stays there, and each run records it before it sends anything, so that nothing goes out of order",
    );
    return (options.receivers ?? config.receivers).map((receiver) => report(receiver.name, [error]));
  }
  const receivers = options.receivers ?? config.receivers.map(createReceiver);
  try {
    const settled = await Promise.allSettled(
      receivers.map((receiver) =>
        deliverPending(store.ledger, receiver, {
          runId,
          now,
          leaseMs: options.leaseMs,
          fresh: recorded.filter((entry) => entry.receiver === receiver.name),
          redact: options.redact,
        }),
      ),
    );
    return settled.map((result, index) =>
      result.status === "fulfilled"
        ? result.value
        : report(receivers[index]?.name ?? "?", [
            redact(`delivery stopped: ${(result.reason as Error).message}`),
          ]),
    );
  } finally {
    if (!options.receivers) await Promise.all(receivers.map((receiver) => receiver.close()));
  }
}

/** Nothing failed that anyone should hear of: no delivery left undelivered. */
export function deliveriesFailed(deliveries: DeliveryReport[]): boolean {
  return deliveries.some(
    (delivery) => delivery.failed > 0 || delivery.deferred > 0 || delivery.errors.length > 0,
  );
}

/** The heartbeat says "all is well": not after a run that could not see a source or could not tell anyone. */
export async function heartbeatUnless(url: string, somethingFailed: boolean): Promise<HeartbeatResult> {
  if (somethingFailed)
    return { sent: false, error: "heartbeat held back: a source or a delivery failed in this run" };
  return sendHeartbeat(url);
}

/** One full run in one process (the CLI): sweep the selected sources, watch the rest, deliver, heartbeat. */
export async function runSweep(options: SweepOptions): Promise<RunSummary> {
  const { config, store, now } = options;
  const runId = options.runId ?? randomUUID();
  const only = options.only ?? [];
  // `--source` may name an organization's member unit (`<name>.<accountId>`), known only once it is expanded.
  const whole = config.sources.filter((source) => only.length === 0 || isNamed(source, only));
  const selected = config.sources.filter(
    (source) =>
      whole.includes(source) ||
      (expandsAtRunTime(source) && only.some((name) => name.startsWith(`${source.configuredName}.`))),
  );
  const expanded = await expandAccounts(selected, {
    http: options.http,
    redact: options.redact,
    store,
    now,
    dryRun: options.dryRun,
    runId,
    // A run of some members only sweeps no discovery unit, which would carry the notes of what membership changed.
    recordsMembers: (organization) => whole.some((source) => source.configuredName === organization),
  });
  const sources = expanded.filter((source) => only.length === 0 || isNamed(source, only));
  // Sweeping first: a run refused for its instant purges nothing either.
  // One process has no time limit but the source's own: a sweep in parts goes on here, part after part.
  const outcomes = await sweepSources({ ...options, continueParts: true }, runId, sources);
  if (options.purgeHistory && !options.dryRun) {
    await store.purgeExpired(
      [...new Set([...config.sources, ...expanded].map((source) => source.name))],
      config.receivers.map((receiver) => receiver.name),
      now,
    );
  }
  const watched = await watchSources(
    options,
    await knownUnits(
      config.sources.filter((source) => !selected.includes(source)),
      store,
    ),
  );
  const remediation = await remediate({ ...options, sources });
  const allNews: News[] = [
    ...outcomes,
    ...watched,
    { alerts: remediation.alerts, silenced: [], acknowledged: [], recorded: remediation.recorded },
  ];
  const deliveries = options.dryRun
    ? []
    : await deliverAll(
        options,
        runId,
        allNews.flatMap((news) => news.recorded),
      );
  const orphaned = await orphanedReceivers(store, config);

  let previews: RunSummary["previews"];
  if (options.dryRun) {
    const news = sortAlerts(allNews.flatMap((item) => item.alerts));
    const receivers = options.receivers ?? config.receivers.map(createReceiver);
    previews = receivers.map((receiver) => {
      const alerts = news.filter((alert) => receiversFor(alert, config).includes(receiver.name));
      return preview(receiver, alerts, now.toISOString());
    });
    if (!options.receivers) await Promise.all(receivers.map((receiver) => receiver.close()));
  }

  // Interrupted in the middle of a sweep in parts: the place is saved, but the source is not swept.
  const sourcesFailed = outcomes.some((outcome) => !outcome.report.ok || outcome.report.continues);
  const undelivered = deliveriesFailed(deliveries) || orphaned.length > 0;
  let heartbeat: HeartbeatResult | undefined;
  // "All is well" only from a run of every source: a run of some organization members is not one.
  if (config.heartbeatUrl && !options.dryRun && whole.length === config.sources.length) {
    heartbeat = await heartbeatUnless(config.heartbeatUrl, sourcesFailed || undelivered);
  }
  const failed = sourcesFailed || undelivered || (heartbeat !== undefined && !heartbeat.sent);
  return {
    runId,
    now: now.toISOString(),
    dryRun: options.dryRun ?? false,
    sources: outcomes.map((outcome) => outcome.report),
    alerts: [
      ...sortAlerts(allNews.flatMap((item) => item.alerts)).map((alert) => alertReport(alert, config)),
      ...allNews.flatMap((item) =>
        item.silenced.map(({ alert, reason }) => alertReport(alert, config, reason)),
      ),
    ],
    silenced: allNews.reduce((sum, item) => sum + item.silenced.length, 0),
    acknowledged: allNews.reduce((sum, item) => sum + item.acknowledged.length, 0),
    deliveries,
    orphaned,
    previews,
    heartbeat,
    ...(config.remediation.redeployFailedWorkers
      ? { remediation: { jobs: remediation.reports, waiting: remediation.waiting } }
      : {}),
    store: { ...store.usage },
    exitCode: failed ? 1 : 0,
  };
}
