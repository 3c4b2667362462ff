import type { Config, SourceConfig } from "./config/schema.js";
import { endpointMoved } from "./config/units.js";
import {
  addDependents,
  INDEX_VERSION,
  observationsOf,
  readsOtherSources,
  updateIndexes,
} from "./cross-source.js";
import { diffInventory, type Listing, Seen } from "./diff.js";
import { EarlyWrites } from "./early-writes.js";
import { stillLeft } from "./organizations.js";
import type { PackedObjects } from "./model/packed-objects.js";
import { type Ack, type Alert, type GoneObject, type Observation, type StoredObject } from "./model/types.js";
import type { Receiver } from "./notify/receiver.js";
import { recordNews } from "./notify/route.js";
import { evaluateSource } from "./rules/evaluate.js";
import { earlierRunProblem, laterRun, RunOrderError } from "./run-order.js";
import { withSilenceEnds } from "./silences.js";
import { withinTimeBudget } from "./sources/budget.js";
import { timeBudgetOf } from "./sources/scope.js";
import { type HttpClient, newCallStats, SweepLimitError } from "./sources/http.js";
import { driverFor, providerOf } from "./sources/index.js";
import { lookUpMissing } from "./sources/lookup.js";
import type { CollectContext, ListingPlace } from "./sources/types.js";
import { addEarlierParts, joinParts, PartOver, partEndsAt, resumableCheckpoint } from "./sweep-parts.js";
import { judgeObjects } from "./sweep-judge.js";
import type { Checkpoint } from "./store/checkpoints.js";
import type { LedgerEntry } from "./store/ledger.js";
import { type Store, storedShape, type SweepOutcome, type SweepRecord } from "./store/store.js";

/*
 * One source's sweep: collect → diff against stored state → evaluate → record news in the ledger → write what
 * changed. Its parts, when it is too big for one run, are in sweep-parts.ts; the watch over sources a run does not
 * sweep in watch-unswept.ts; what a whole run does with them in sweep.ts.
 */

export interface SourceReport extends SweepOutcome {
  name: string;
  type: SourceConfig["type"];
  warnings: string[];
  /** The sweep is in parts, and this was part `part`, not the last: it continues from the place it saved. */
  continues?: { part: number };
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
  /**
   * A run earlier than one recorded for a source: `refuse` the whole run (the CLI: exit 2, nothing done), or
   * `fail-source`, recording that source's sweep as failed so that it adds up to a "cannot see" alert (a Lambda
   * worker on a host whose clock is behind, which would otherwise be retried into the dead-letter queue unheard).
   */
  earlierRun?: "refuse" | "fail-source";
  /** The run is interrupted: a source swept in parts stops at its next place and saves it (lib/sweep-parts.ts). */
  interrupt?: AbortSignal;
  /** Sweeps in parts go on here, part after part (the CLI), rather than in follow-up messages (Lambda). */
  continueParts?: boolean;
  /** Called as observations stream in, for a live progress line; Lambda handlers never pass it. */
  onProgress?: (source: string, progress: SweepProgress) => void;
}

export interface SweepProgress {
  objects: number;
  /** What the listings said they hold, once their first pages are in; absent for listings that do not say. */
  total?: number;
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
  if (!(error instanceof Error)) return `failed with ${String(error)}`;
  const err = error;
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

/**
 * A listing that shrank to nothing, or by more than half, without any error is more likely an API or permission
 * problem than a real mass deletion: it is not trusted unless the operator said such drops are real.
 */
function suspiciousDrop(config: Config, before: number, after: number): string | undefined {
  if (config.alerts.trustInventoryDrops || before === 0 || (after > 0 && after >= before / 2))
    return undefined;
  return (
    `inventory dropped from ${before} to ${after} objects without any error from the API; not trusted: what it ` +
    "shows is kept, nothing absent from it is taken as missing (set alerts.trustInventoryDrops: true if the drop is real)"
  );
}

/** What a source reports when it could not be swept at all. */
function unswept(previous: SweepRecord | undefined, durationMs: number): SweepOutcome {
  return {
    ok: false,
    objects: 0,
    added: 0,
    changed: 0,
    gone: 0,
    missing: 0,
    calls: 0,
    retries: 0,
    throttled: 0,
    durationMs,
    consecutiveFailures: (previous?.consecutiveFailures ?? 0) + 1,
  };
}

/**
 * A sweep whose store read or save failed, recorded on its own (best effort: the store is what failed) with the
 * source's alert state as it was, so that failures run after run add up to a "cannot see this source" alert and the
 * heartbeat is held back.
 */
async function recordFailedSweep(
  store: SweepOptions["store"],
  report: SourceReport,
  previous: SweepRecord | undefined,
  runId: string,
  now: Date,
): Promise<void> {
  const { name: source, type: _type, warnings: _warnings, ...failed } = report;
  const at = now.toISOString();
  await store
    .recordSweep(
      {
        ...failed,
        alerts: previous?.alerts ?? {},
        resolved: previous?.resolved ?? {},
        source,
        runId,
        at,
        lastSuccessAt: previous?.lastSuccessAt,
        failingSince: previous?.failingSince ?? at,
        endpoint: previous?.endpoint,
        latestRun: laterRun(previous, { at, runId }),
      },
      now,
    )
    .catch(() => undefined);
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
  earlierRun?: string,
): Promise<SourceOutcome> {
  const { config, store, now } = options;
  const redact = options.redact ?? ((text: string) => text);
  const started = Date.now();
  const at = now.toISOString();
  const stats = newCallStats();
  const warnings: string[] = [];
  let stored: PackedObjects;
  let goneBefore: Map<string, GoneObject>;
  try {
    [stored, goneBefore] = await Promise.all([
      store.loadPackedObjects(source.name),
      store.loadGone(source.name),
    ]);
  } catch (caught) {
    // Nothing can be compared or evaluated without what was stored: the source fails alone, the others go on.
    const error = redact(`the store could not be read: ${describeError(caught)}`);
    const report: SourceReport = {
      ...unswept(previous, Date.now() - started),
      error,
      name: source.name,
      type: source.type,
      warnings,
    };
    if (!options.dryRun) await recordFailedSweep(store, report, previous, runId, now);
    options.onSourceDone?.(report);
    return { report, alerts: [], silenced: [], acknowledged: [], recorded: [] };
  }

  const seen = new Seen(stored);
  let error = earlierRun ?? source.unitError ?? endpointMoved(source, previous?.endpoint);
  let unsettled: string | undefined;
  const driver = driverFor(source.type);
  const sweepOver = new AbortController();
  let total: number | undefined;
  const progress = () => ({ objects: seen.size, total, calls: stats.calls, throttled: stats.throttled });
  let previousObservations: Map<string, Observation> | undefined;
  const collectContext: CollectContext = {
    http: options.http,
    stats,
    // Built only for a collector that reads it: a copy of a 100,000-object inventory is not free.
    get previous() {
      previousObservations ??= new Map([...stored].map(([key, object]) => [key, object.observation]));
      return previousObservations;
    },
    signal: sweepOver.signal,
    redact,
    warn: (message) => warnings.push(redact(message)),
    unsettled: (reason) => {
      unsettled ??= reason;
    },
    total: (count) => {
      total = (total ?? 0) + count;
    },
    inventoryHostnames: () => store.hostnames.all(),
  };
  // An organization's discovery unit and a retiring member's units are swept with no listing of their own: what
  // they know came from the organization's listing (lib/organizations.ts).
  if (source.discovery) warnings.push(...source.discovery.notes.map(redact));
  const listsItself = !source.discovery && source.leftOrganization === undefined;
  // A dry run saves no place, so it is never swept in parts.
  const inParts = !options.dryRun && listsItself && error === undefined;
  let checkpoint: Checkpoint | undefined;
  if (inParts) {
    checkpoint = await resumableCheckpoint(store, source.name, now, collectContext.warn).catch(
      (caught: unknown) => {
        error = redact(describeError(caught));
        return undefined;
      },
    );
  }
  let partOver: ListingPlace | undefined;
  if (inParts && error === undefined) {
    const endsAt = partEndsAt(started, timeBudgetOf(source).ms);
    collectContext.resumeFrom = checkpoint?.place;
    collectContext.reached = (place) => {
      if (Date.now() >= endsAt || options.interrupt?.aborted) throw new PartOver(place);
    };
  }
  // Not for a source whose objects the sweep completes after listing (a CA's dependents, an endpoint's comparisons).
  const early =
    options.dryRun || readsOtherSources(source) ? undefined : new EarlyWrites(store, source.name, now);
  try {
    if (error === undefined && listsItself) {
      // Shown from the start: a first page that is slow to come is worth seeing too.
      options.onProgress?.(source.name, progress());
      const collected = driver.collect(source, collectContext);
      for await (const observation of withinTimeBudget(source, sweepOver, collected)) {
        // What did not change is only marked on what is stored: a steady sweep does not keep its inventory twice.
        const fresh = storedShape(observation);
        const isNew = !stored.has(fresh.key);
        seen.add(fresh);
        if (early && isNew && !goneBefore.has(fresh.key)) await early.add(fresh);
        options.onProgress?.(source.name, progress());
      }
      await addDependents(seen, store, source.name);
    }
  } catch (caught) {
    if (caught instanceof PartOver) {
      partOver = caught.place;
    } else if (source.type === "tls-endpoints" && caught instanceof SweepLimitError) {
      // Each endpoint is probed on its own: what the budget allowed is true of each, and a few that never answer
      // must not blind the source to all the others.
      unsettled ??=
        `${timeBudgetOf(source).text}, the source's timeBudget, ran out after ${seen.size} endpoints; those are ` +
        "kept as probed, the others as they were last seen (raise timeBudget, or lower timeout and retries)";
    } else {
      error = redact(describeError(caught));
    }
  }
  await early?.settle();
  // A failed listing is not used at all; a suspicious drop is used for what it shows, but nothing is taken as missing.
  const fetched = error === undefined;
  if (fetched && checkpoint) unsettled ??= addEarlierParts(seen, checkpoint);
  if (partOver !== undefined) {
    const why = options.interrupt?.aborted
      ? "when the run was interrupted"
      : `near its timeBudget of ${timeBudgetOf(source).text}`;
    warnings.push(
      `swept in parts: part ${(checkpoint?.part ?? 0) + 1} stopped ${why}, with ${seen.size} objects listed so ` +
        "far; the next part continues from there, and nothing is taken as missing before the last",
    );
  }
  // Every endpoint a tls-endpoints source is given yields an observation, answered or not: fewer means fewer were
  // given (the config or the inventories changed), not an API that lost some.
  if (listsItself && source.type !== "tls-endpoints" && partOver === undefined)
    error ??= suspiciousDrop(config, stored.size, seen.size);
  // An organization's discovery unit lists nothing of its own: objects stored under its name (from before the
  // source had `accounts`) are kept as last seen, never taken as missing.
  if (source.discovery && stored.size > 0) {
    unsettled ??=
      `${stored.size} objects are stored under ${source.name} itself, from before it stood for an organization; ` +
      "they are kept, and alert, as last seen (to watch that account's own certificates, give it a source without accounts)";
  }
  if (source.leftOrganization !== undefined && !(await stillLeft(source, store).catch(() => false))) {
    unsettled ??= `${source.account?.id ?? source.name} is in its organization again: nothing of it is resolved`;
  }
  if (fetched && error === undefined && unsettled !== undefined) {
    warnings.push(redact(`${unsettled}; nothing absent from it is taken as missing this time`));
  }
  const listing: Listing = !fetched
    ? "failed"
    : error === undefined && !unsettled && partOver === undefined
      ? "complete"
      : "partial";

  let confirmedGone = new Set<string>();
  if (listing === "complete" && source.leftOrganization !== undefined) {
    confirmedGone = new Set(stored.keys());
  } else if (listing === "complete") {
    const newlyMissing: Observation[] = [];
    for (const key of stored.keys()) {
      if (!seen.has(key) && !stored.isMissing(key))
        newlyMissing.push((stored.get(key) as StoredObject).observation);
    }
    // The look-ups share the listing's budget: past it, what is left waits for the next listing to settle it.
    const until = started + timeBudgetOf(source).ms;
    const stop = setTimeout(() => sweepOver.abort(), Math.max(0, until - Date.now()));
    const lookedUp = await lookUpMissing(driver, source, collectContext, newlyMissing, until).finally(() =>
      clearTimeout(stop),
    );
    for (const observation of lookedUp.found) seen.add(storedShape(observation));
    confirmedGone = lookedUp.gone;
  }
  sweepOver.abort();
  const diff = diffInventory({ stored, goneBefore, seen, listing, confirmedGone, at });
  // Past the diff only a saved place needs what was seen: a first sweep of 100,000 frees a map of them.
  if (partOver === undefined) seen.clear();
  const { current, changedKeys, replaced } = diff;
  // Written early by a listing that then failed: stored now, so it counts (objects, issuers) as it stands, but it
  // is judged, and announced, by the next sweep, as any object a failed listing did not show.
  const unjudged = new Set<string>();
  for (const [key, written] of early?.written ?? []) {
    const listed = current.get(key);
    if (!listed) {
      unjudged.add(key);
      replaced.set(key, undefined);
      current.set(key, EarlyWrites.asWritten(written, at));
    }
    // Not written again, unless listed again, differently, later in the same listing: then with the rest.
    if (!listed || listed.observation === written) changedKeys.delete(key);
  }

  const context = { now, config, acks };
  const { gone, inventoryUnread, ...news } = await judgeObjects({
    source,
    store,
    context,
    current,
    changedKeys,
    gone: diff.gone,
    unjudged,
    behind: earlierRun !== undefined,
    staleSince: listing === "failed" ? (previous?.lastSuccessAt ?? previous?.at) : undefined,
    at,
  });
  if (inventoryUnread) {
    warnings.push(
      redact(
        `the inventory could not be read to compare with what is served: ${describeError(inventoryUnread.error)}; ` +
          "its comparisons stand as last judged",
      ),
    );
  }
  const outcome: Omit<SourceOutcome, "report"> = { ...news, recorded: [] };

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
      labels: source.labels,
    },
    { alerts: previous?.alerts ?? {}, resolved: previous?.resolved ?? {} },
    context,
  );
  outcome.alerts.push(...health.alerts);
  outcome.silenced.push(...health.silenced);
  outcome.acknowledged.push(...health.acknowledged);

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
    const saved = await saveSweep();
    if (saved !== undefined) {
      report.ok = false;
      report.error = redact(`the store could not save this sweep: ${saved}`);
      report.consecutiveFailures = (previous?.consecutiveFailures ?? 0) + 1;
      // What was recorded is still delivered; what was not is evaluated again by the next run.
      await recordFailedSweep(store, report, previous, runId, now);
    }
  }
  options.onSourceDone?.(report);
  return { report, ...outcome };

  /** Saves where the part stopped, after what it saw is written; the next part continues from there. */
  async function saveCheckpoint(place: ListingPlace): Promise<void> {
    const part = (checkpoint?.part ?? 0) + 1;
    const earlier = new Set(checkpoint?.seen);
    const save = () =>
      store.checkpoints.save(
        {
          source: source.name,
          runId: checkpoint?.runId ?? runId,
          startedAt: checkpoint?.startedAt ?? at,
          part,
          place,
          // Earlier parts' keys first, as saved: each save appends only what its part added.
          seen: [...earlier, ...[...seen.keys()].filter((key) => !earlier.has(key))],
          unsettled,
        },
        now,
      );
    let saved = await save();
    // A first part refused: a head no load could read (its chunks lost) is in the way; it holds nothing to continue.
    if (!saved && !checkpoint) {
      await store.checkpoints.clear(source.name);
      saved = await save();
    }
    if (saved) report.continues = { part };
    else warnings.push("another run continued this sweep in parts meanwhile; it goes on from its place");
  }

  /** Records the news, then writes what changed and the sweep record; the error text when the store refused. */
  async function saveSweep(): Promise<string | undefined> {
    try {
      outcome.recorded.push(...(await recordNews(outcome.alerts, options)));
      await updateIndexes(store, source.name, {
        current,
        replaced,
        gone: diff.gone,
        rebuild: previous?.indexVersion !== INDEX_VERSION,
        early: early?.written,
      });
      // Nothing reads what was written early past the index update: a first sweep of 100,000 frees a map of them.
      early?.written.clear();
      await store.writeObjects(
        source.name,
        {
          changed: [...changedKeys].map((key) => current.get(key) as StoredObject),
          gone,
          returned: diff.returned,
        },
        now,
      );
      // A part's snapshot would be of part of the inventory: only the last part's is the whole, and it is written
      // whatever that part changed, since the earlier parts wrote none.
      const changed = diff.added + diff.changed + gone.length > 0 || checkpoint !== undefined;
      if (sweep.ok && partOver === undefined && changed) {
        await store.writeSnapshot(source.name, at, observationsOf(current.values()), now);
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
          indexVersion: INDEX_VERSION,
        },
        now,
      );
      if (partOver !== undefined) await saveCheckpoint(partOver);
      // The last part, whole or not, ends the sweep in parts; a failed one keeps the place for the next attempt.
      else if (checkpoint && fetched) await store.checkpoints.clear(source.name);
      return undefined;
    } catch (caught) {
      return describeError(caught);
    }
  }
}

/** Sweeps the given sources: collect, diff, evaluate, record news in the ledger. Delivers nothing. */
export async function sweepSources(
  given: SweepOptions,
  runId: string,
  sources: SourceConfig[],
): Promise<SourceOutcome[]> {
  const options = {
    ...given,
    config: await withSilenceEnds(given.config, given.store, given.now, !given.dryRun),
  };
  const [acks, lastSweeps] = await Promise.all([
    options.store.acks(options.now),
    Promise.all(sources.map((source) => options.store.lastSweep(source.name))),
  ]);
  const problems = sources.map((source, index) =>
    options.dryRun ? undefined : earlierRunProblem(source.name, lastSweeps[index], options.now),
  );
  const refused = problems.find((problem) => problem !== undefined);
  if (refused && options.earlierRun !== "fail-source") throw new RunOrderError(refused);
  const sweep = async (index: number) => {
    const source = sources[index] as SourceConfig;
    let outcome = await sweepSource(source, options, runId, acks, lastSweeps[index], problems[index]);
    while (options.continueParts && outcome.report.continues && !options.interrupt?.aborted) {
      const previous = await options.store.lastSweep(source.name);
      outcome = joinParts(outcome, await sweepSource(source, options, runId, acks, previous));
    }
    return outcome;
  };
  // Sources that read what others hold (a CA's dependents) are swept once those others are written, so that even a
  // first run tells the counts.
  const indexes = sources.map((_, index) => index);
  const readers = indexes.filter((index) => readsOtherSources(sources[index] as SourceConfig));
  const outcomes = new Map<number, SourceOutcome>();
  for (const wave of [indexes.filter((index) => !readers.includes(index)), readers]) {
    const done = await Promise.all(wave.map(sweep));
    wave.forEach((index, position) => outcomes.set(index, done[position] as SourceOutcome));
  }
  return indexes.map((index) => outcomes.get(index) as SourceOutcome);
}
