import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { Config, SourceConfig } from "./config/schema.js";
import type { Alert, Observation, StoredObject } from "./model/types.js";
import { type DeliveryReport, deliverPending } from "./notify/deliver.js";
import { sortAlerts } from "./notify/digest.js";
import { createReceiver } from "./notify/index.js";
import type { Receiver } from "./notify/receiver.js";
import { notificationId, receiversFor } from "./notify/route.js";
import { evaluateObject } from "./rules/evaluate.js";
import { type HttpClient, newCallStats } from "./sources/http.js";
import { driverFor } from "./sources/index.js";
import { type LedgerEntry, type Store, storedShape, type SweepOutcome } from "./store/store.js";

export interface SourceReport extends SweepOutcome {
  name: string;
  type: SourceConfig["type"];
  warnings: string[];
}

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

export interface RunSummary {
  runId: string;
  now: string;
  dryRun: boolean;
  sources: SourceReport[];
  alerts: AlertReport[];
  silenced: number;
  deliveries: DeliveryReport[];
  /** Dry run only: each receiver's message as it would be sent. */
  previews?: { receiver: string; text: string }[];
  store: { readUnits: number; writeUnits: number };
  exitCode: 0 | 1;
}

export interface SweepOptions {
  config: Config;
  store: Store;
  http: HttpClient;
  now: Date;
  runId?: string;
  dryRun?: boolean;
  /** Only these sources (by name); all when empty. */
  only?: string[];
  /** Receivers to deliver through; built from the config when absent. */
  receivers?: Receiver[];
  /** The embedded store has no TTL: purge expired history before the run. */
  purgeHistory?: boolean;
  leaseMs?: number;
  redact?: (text: string) => string;
  onSourceDone?: (report: SourceReport) => void;
}

function describeError(error: unknown): string {
  const err = error as Error;
  return err.name === "ApiError" || err.name === "MalformedResponseError"
    ? err.message
    : `${err.name}: ${err.message}`;
}

interface SourceOutcome {
  report: SourceReport;
  alerts: Alert[];
  silenced: { alert: Alert; reason: string }[];
  /** Ledger entries this sweep recorded, for delivery in the same run. */
  recorded: LedgerEntry[];
}

/**
 * One source: collect → diff against stored state → evaluate → record news in the ledger → write what changed.
 * A sweep that failed or was cut short changes no stored observation: its objects are evaluated as last known.
 */
async function sweepSource(
  source: SourceConfig,
  options: SweepOptions,
  runId: string,
): Promise<SourceOutcome> {
  const { config, store, now } = options;
  const redact = options.redact ?? ((text: string) => text);
  const started = Date.now();
  const at = now.toISOString();
  const stats = newCallStats();
  const warnings: string[] = [];
  const [stored, previous] = await Promise.all([
    store.loadObjects(source.name),
    store.lastSweep(source.name),
  ]);

  const seen = new Map<string, Observation>();
  let error: string | undefined;
  const sweepOver = new AbortController();
  try {
    const driver = driverFor(source.type);
    for await (const observation of driver.collect(source, {
      http: options.http,
      stats,
      previous: new Map([...stored].map(([key, object]) => [key, object.observation])),
      signal: sweepOver.signal,
      warn: (message) => warnings.push(redact(message)),
    })) {
      seen.set(observation.key, storedShape(observation));
    }
  } catch (caught) {
    error = redact(describeError(caught));
  } finally {
    sweepOver.abort();
  }

  const current = new Map<string, StoredObject>();
  const changedKeys = new Set<string>();
  let added = 0;
  let changed = 0;
  let gone: string[] = [];
  if (error === undefined) {
    for (const [key, observation] of seen) {
      const before = stored.get(key);
      if (!before) {
        added++;
        current.set(key, { observation, firstSeenAt: at, changedAt: at, alerts: {} });
        changedKeys.add(key);
      } else if (!isDeepStrictEqual(before.observation, observation)) {
        changed++;
        current.set(key, { ...before, observation, changedAt: at });
        changedKeys.add(key);
      } else {
        current.set(key, before);
      }
    }
    gone = [...stored.keys()].filter((key) => !seen.has(key));
  } else {
    for (const [key, object] of stored) current.set(key, object);
  }

  const alerts: Alert[] = [];
  const silenced: SourceOutcome["silenced"] = [];
  for (const [key, object] of current) {
    const evaluation = evaluateObject(object, now, config);
    alerts.push(...evaluation.alerts);
    silenced.push(...evaluation.silenced);
    if (!isDeepStrictEqual(evaluation.marks, object.alerts)) {
      current.set(key, { ...object, alerts: evaluation.marks });
      changedKeys.add(key);
    }
  }

  const consecutiveFailures = error === undefined ? 0 : (previous?.consecutiveFailures ?? 0) + 1;
  const outcome: SweepOutcome = {
    ok: error === undefined,
    error,
    objects: current.size,
    added,
    changed,
    gone: gone.length,
    calls: stats.calls,
    retries: stats.retries,
    throttled: stats.throttled,
    durationMs: Date.now() - started,
    consecutiveFailures,
  };
  const report: SourceReport = { ...outcome, name: source.name, type: source.type, warnings };

  const recorded: LedgerEntry[] = [];
  if (!options.dryRun) {
    // News goes into the ledger before the marks that say it was announced: a crash in between re-records
    // the same ids (a no-op) instead of losing them.
    for (const alert of alerts) {
      for (const receiver of receiversFor(alert, config)) {
        const entry = await store.recordNotification(receiver, notificationId(alert), alert, now);
        if (entry) recorded.push(entry);
      }
    }
    await store.writeObjects(
      source.name,
      [...changedKeys].map((key) => current.get(key) as StoredObject),
      gone,
    );
    if (outcome.ok && added + changed + gone.length > 0) {
      await store.writeSnapshot(
        source.name,
        at,
        [...current.values()].map((object) => object.observation),
        now,
      );
    }
    await store.recordSweep(
      {
        ...outcome,
        source: source.name,
        runId,
        at,
        lastSuccessAt: error === undefined ? at : previous?.lastSuccessAt,
      },
      now,
    );
  }
  options.onSourceDone?.(report);
  return { report, alerts, silenced, recorded };
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

/** One full run: every selected source, then delivery of everything pending (this run's news and earlier leftovers). */
export async function runSweep(options: SweepOptions): Promise<RunSummary> {
  const { config, store, now } = options;
  const runId = options.runId ?? randomUUID();
  const sources = config.sources.filter(
    (source) => !options.only?.length || options.only.includes(source.name),
  );
  if (options.purgeHistory && !options.dryRun) {
    await store.purgeExpired(
      config.sources.map((source) => source.name),
      config.receivers.map((receiver) => receiver.name),
      now,
    );
  }

  const outcomes = await Promise.all(sources.map((source) => sweepSource(source, options, runId)));

  const deliveries: DeliveryReport[] = [];
  if (!options.dryRun) {
    const receivers = options.receivers ?? config.receivers.map(createReceiver);
    const recorded = outcomes.flatMap((outcome) => outcome.recorded);
    // One receiver's trouble (even a store error while marking) must not stop the others or lose the summary.
    const settled = await Promise.allSettled(
      receivers.map((receiver) =>
        deliverPending(store, receiver, {
          runId,
          now,
          leaseMs: options.leaseMs,
          fresh: recorded.filter((entry) => entry.receiver === receiver.name),
          redact: options.redact,
        }),
      ),
    );
    settled.forEach((result, index) => {
      const receiver = receivers[index]?.name ?? "?";
      if (result.status === "fulfilled") deliveries.push(result.value);
      else {
        const reason = (options.redact ?? String)(`delivery stopped: ${(result.reason as Error).message}`);
        deliveries.push({ receiver, messages: 0, sent: 0, deferred: 0, failed: 0, errors: [reason] });
      }
    });
    if (!options.receivers) await Promise.all(receivers.map((receiver) => receiver.close()));
  }

  let previews: RunSummary["previews"];
  if (options.dryRun) {
    const news = sortAlerts(outcomes.flatMap((outcome) => outcome.alerts));
    const receivers = options.receivers ?? config.receivers.map(createReceiver);
    previews = receivers.map((receiver) => {
      const alerts = news.filter((alert) => receiversFor(alert, config).includes(receiver.name));
      return { receiver: receiver.name, text: receiver.preview({ alerts, generatedAt: now.toISOString() }) };
    });
    if (!options.receivers) await Promise.all(receivers.map((receiver) => receiver.close()));
  }

  const failed =
    outcomes.some((outcome) => !outcome.report.ok) ||
    deliveries.some((delivery) => delivery.failed > 0 || delivery.deferred > 0 || delivery.errors.length > 0);
  return {
    runId,
    now: now.toISOString(),
    dryRun: options.dryRun ?? false,
    sources: outcomes.map((outcome) => outcome.report),
    alerts: [
      ...sortAlerts(outcomes.flatMap((outcome) => outcome.alerts)).map((alert) => alertReport(alert, config)),
      ...outcomes.flatMap((outcome) =>
        outcome.silenced.map(({ alert, reason }) => alertReport(alert, config, reason)),
      ),
    ],
    silenced: outcomes.reduce((sum, outcome) => sum + outcome.silenced.length, 0),
    deliveries,
    previews,
    store: { ...store.usage },
    exitCode: failed ? 1 : 0,
  };
}
