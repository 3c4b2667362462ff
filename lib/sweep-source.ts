import { isDeepStrictEqual } from "node:util";
import type { Config, SourceConfig } from "./config/schema.js";
import { endpointMoved } from "./config/units.js";
import { diffInventory, type Listing } from "./diff.js";
import type { Ack, Alert, GoneObject, Observation, StoredObject } from "./model/types.js";
import type { Receiver } from "./notify/receiver.js";
import { recordNews } from "./notify/route.js";
import { type Evaluation, evaluateObject, evaluateSource } from "./rules/evaluate.js";
import { replacementFinder } from "./rules/replacement.js";
import { laterRun, refuseEarlierRun } from "./run-order.js";
import { withinTimeBudget } from "./sources/budget.js";
import { type HttpClient, newCallStats } from "./sources/http.js";
import { driverFor } from "./sources/index.js";
import { lookUpMissing } from "./sources/lookup.js";
import type { CollectContext } from "./sources/types.js";
import type { LedgerEntry } from "./store/ledger.js";
import { type Store, storedShape, type SweepOutcome, type SweepRecord } from "./store/store.js";

/*
 * One source's sweep: collect → diff against stored state → evaluate → record news in the ledger → write what
 * changed; and the watch over sources a run does not sweep. What a whole run does with it is in sweep.ts.
 */

export interface SourceReport extends SweepOutcome {
  name: string;
  type: SourceConfig["type"];
  warnings: string[];
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
  /** Called as observations stream in, for a live progress line; Lambda handlers never pass it. */
  onProgress?: (source: string, progress: SweepProgress) => void;
}

export interface SweepProgress {
  objects: number;
  calls: number;
  throttled: number;
}

/** Errors whose message already says what failed, in words; anything else is shown with its name. */
const SELF_EXPLAINING = new Set([
  "ApiError",
  "MalformedResponseError",
  "IncompleteListingError",
  "SweepLimitError",
]);

function describeError(error: unknown): string {
  const err = error as Error;
  return SELF_EXPLAINING.has(err.name) ? err.message : `${err.name}: ${err.message}`;
}

/** What a run has to tell: alerts, what held some back, and the ledger entries recorded for them. */
export interface News {
  alerts: Alert[];
  silenced: { alert: Alert; reason: string }[];
  acknowledged: Alert[];
  /** Ledger entries recorded, for delivery in the same run. */
  recorded: LedgerEntry[];
}

export interface SourceOutcome extends News {
  report: SourceReport;
}

function providerOf(source: SourceConfig): Observation["labels"]["provider"] {
  return source.type.startsWith("huawei") ? "huawei" : "aliyun";
}

/**
 * A listing that shrank to nothing, or by more than half, without any error is more likely an API or permission
 * problem than a real mass deletion: it is not trusted unless the operator said such drops are real.
 */
function suspiciousDrop(config: Config, before: number, after: number): string | undefined {
  if (config.alerts.trustInventoryDrops || before === 0 || (after > 0 && after >= before / 2))
    return undefined;
  return (
    `inventory dropped from ${before} to ${after} objects without any error from the API; not trusted, nothing ` +
    "stored changed (set alerts.trustInventoryDrops: true if the drop is real)"
  );
}

/**
 * One source: collect → diff against stored state → evaluate → record news in the ledger → write what changed.
 * A sweep that failed, was cut short or is not trusted changes no stored observation: its objects are evaluated
 * as last known, and their alerts say so.
 */
async function sweepSource(
  source: SourceConfig,
  options: SweepOptions,
  runId: string,
  acks: ReadonlyMap<string, Ack>,
  previous: SweepRecord | undefined,
): Promise<SourceOutcome> {
  const { config, store, now } = options;
  const redact = options.redact ?? ((text: string) => text);
  const started = Date.now();
  const at = now.toISOString();
  const stats = newCallStats();
  const warnings: string[] = [];
  const [stored, goneBefore] = await Promise.all([
    store.loadObjects(source.name),
    store.loadGone(source.name),
  ]);

  const seen = new Map<string, Observation>();
  let error = endpointMoved(source, previous?.endpoint);
  let unsettled: string | undefined;
  const driver = driverFor(source.type);
  const sweepOver = new AbortController();
  const collectContext: CollectContext = {
    http: options.http,
    stats,
    previous: new Map([...stored].map(([key, object]) => [key, object.observation])),
    signal: sweepOver.signal,
    redact,
    warn: (message) => warnings.push(redact(message)),
    unsettled: (reason) => {
      unsettled ??= reason;
    },
  };
  try {
    if (error === undefined) {
      const collected = driver.collect(source, collectContext);
      for await (const observation of withinTimeBudget(source, sweepOver, collected)) {
        seen.set(observation.key, storedShape(observation));
        options.onProgress?.(source.name, {
          objects: seen.size,
          calls: stats.calls,
          throttled: stats.throttled,
        });
      }
    }
  } catch (caught) {
    error = redact(describeError(caught));
  }
  // A failed listing is not used at all; a suspicious drop is used for what it shows, but nothing is taken as missing.
  const fetched = error === undefined;
  error ??= suspiciousDrop(config, stored.size, seen.size);
  if (fetched && error === undefined && unsettled !== undefined) {
    warnings.push(redact(`${unsettled}; nothing absent from it is taken as missing this time`));
  }
  const listing: Listing = !fetched ? "failed" : error === undefined && !unsettled ? "complete" : "partial";

  let confirmedGone = new Set<string>();
  if (listing === "complete") {
    const newlyMissing = [...stored.values()]
      .filter((object) => !seen.has(object.observation.key) && !object.missingSince)
      .map((object) => object.observation);
    const lookedUp = await lookUpMissing(driver, source, collectContext, newlyMissing);
    for (const observation of lookedUp.found) seen.set(observation.key, storedShape(observation));
    confirmedGone = lookedUp.gone;
  }
  sweepOver.abort();
  const diff = diffInventory({ stored, goneBefore, seen, listing, confirmedGone, at });
  const { current, changedKeys } = diff;

  const context = { now, config, acks };
  const outcome: Omit<SourceOutcome, "report"> = { alerts: [], silenced: [], acknowledged: [], recorded: [] };
  const collect = (evaluation: Evaluation) => {
    outcome.alerts.push(...evaluation.alerts);
    outcome.silenced.push(...evaluation.silenced);
    outcome.acknowledged.push(...evaluation.acknowledged);
  };
  const replacementOf = replacementFinder(current.values());
  for (const [key, object] of current) {
    const evaluation = evaluateObject(object, context, { replacement: replacementOf(object.observation) });
    collect(evaluation);
    if (!isDeepStrictEqual(evaluation.state, { alerts: object.alerts, resolved: object.resolved ?? {} })) {
      current.set(key, { ...object, ...evaluation.state });
      changedKeys.add(key);
    }
  }
  const gone = diff.gone.map((object): GoneObject => {
    const evaluation = evaluateObject(object, context, { gone: true });
    collect(evaluation);
    const { key } = object.observation;
    return { key, firstSeenAt: object.firstSeenAt, goneAt: at, resolved: evaluation.state.resolved };
  });
  if (error !== undefined) {
    // Computed from what was last seen: the message must say the source could not be read.
    for (const alert of outcome.alerts) alert.staleSince = previous?.lastSuccessAt ?? previous?.at;
  }

  const consecutiveFailures = error === undefined ? 0 : (previous?.consecutiveFailures ?? 0) + 1;
  const lastSuccessAt = error === undefined ? at : previous?.lastSuccessAt;
  const failingSince = error === undefined ? undefined : (previous?.failingSince ?? at);
  const health = evaluateSource(
    {
      name: source.name,
      provider: providerOf(source),
      ok: !error,
      error,
      consecutiveFailures,
      lastSuccessAt,
      failingSince,
    },
    { alerts: previous?.alerts ?? {}, resolved: previous?.resolved ?? {} },
    context,
  );
  collect(health);

  const sweep: SweepOutcome = {
    ok: error === undefined,
    error,
    objects: current.size,
    added: diff.added,
    changed: diff.changed,
    gone: gone.length,
    missing: diff.missing,
    calls: stats.calls,
    retries: stats.retries,
    throttled: stats.throttled,
    durationMs: Date.now() - started,
    consecutiveFailures,
  };
  const report: SourceReport = { ...sweep, name: source.name, type: source.type, warnings };

  if (!options.dryRun) {
    try {
      outcome.recorded.push(...(await recordNews(outcome.alerts, options)));
      await store.writeObjects(
        source.name,
        {
          changed: [...changedKeys].map((key) => current.get(key) as StoredObject),
          gone,
          returned: diff.returned,
        },
        now,
      );
      if (sweep.ok && diff.added + diff.changed + gone.length > 0) {
        await store.writeSnapshot(
          source.name,
          at,
          [...current.values()].map((object) => object.observation),
          now,
        );
      }
      const endpoint = sweep.ok ? source.endpoint : previous?.endpoint;
      const latestRun = laterRun(previous, { at, runId });
      await store.recordSweep(
        {
          ...sweep,
          ...health.state,
          source: source.name,
          runId,
          at,
          lastSuccessAt,
          failingSince,
          endpoint,
          latestRun,
        },
        now,
      );
    } catch (caught) {
      // What was recorded is still delivered; what was not is evaluated again, to the same ids, by the next run.
      report.ok = false;
      report.error = redact(`the store could not save this sweep: ${describeError(caught)}`);
    }
  }
  options.onSourceDone?.(report);
  return { report, ...outcome };
}

/**
 * A source this run did not sweep (another schedule or worker owns it) is still watched for staleness from its
 * last sweep record: if that schedule died, this is where someone hears of it. Writes only when there is news.
 */
async function watchUnswept(
  source: SourceConfig,
  options: Pick<SweepOptions, "config" | "store" | "now" | "dryRun">,
  acks: ReadonlyMap<string, Ack>,
): Promise<News | undefined> {
  const { config, store, now } = options;
  const last = config.alerts.staleAfter ? await store.lastSweep(source.name) : undefined;
  if (!last) return undefined;
  const evaluation = evaluateSource(
    { ...last, name: source.name, provider: providerOf(source) },
    { alerts: last.alerts ?? {}, resolved: last.resolved ?? {} },
    { now, config, acks },
  );
  if (evaluation.alerts.length === 0) return undefined;
  const recorded = options.dryRun ? [] : await recordNews(evaluation.alerts, options);
  // The marks ride on the last sweep record, as they do for a swept source; its history keeps its own expiry.
  if (!options.dryRun) await store.recordSweep({ ...last, ...evaluation.state }, new Date(last.at));
  return { ...evaluation, recorded };
}

/** Sweeps the given sources: collect, diff, evaluate, record news in the ledger. Delivers nothing. */
export async function sweepSources(
  options: SweepOptions,
  runId: string,
  sources: SourceConfig[],
): Promise<SourceOutcome[]> {
  const [acks, lastSweeps] = await Promise.all([
    options.store.acks(options.now),
    Promise.all(sources.map((source) => options.store.lastSweep(source.name))),
  ]);
  if (!options.dryRun) {
    sources.forEach((source, index) => refuseEarlierRun(source.name, lastSweeps[index], options.now));
  }
  return Promise.all(
    sources.map((source, index) => sweepSource(source, options, runId, acks, lastSweeps[index])),
  );
}

/** Watches sources not swept by this run (staleness), from their last sweep records. */
export async function watchSources(
  options: Pick<SweepOptions, "config" | "store" | "now" | "dryRun">,
  sources: SourceConfig[],
): Promise<News[]> {
  if (!options.config.alerts.staleAfter || sources.length === 0) return [];
  const acks = await options.store.acks(options.now);
  const watched = await Promise.all(sources.map((source) => watchUnswept(source, options, acks)));
  return watched.filter((news): news is News => news !== undefined);
}
