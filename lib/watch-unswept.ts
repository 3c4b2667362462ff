import type { SourceConfig } from "./config/schema.js";
import type { Ack } from "./model/types.js";
import { recordNews } from "./notify/route.js";
import { evaluateSource } from "./rules/evaluate.js";
import { CLOCK_SKEW_MS, latestRunOf } from "./run-order.js";
import { withSilenceEnds } from "./silences.js";
import { providerOf } from "./sources/index.js";
import type { News, SweepOptions } from "./sweep-source.js";

/*
 * The watch over sources a run does not sweep: their staleness, from their last sweep records. The CLI watches the
 * sources it was not asked to sweep; Lambda's notify watches them all.
 */

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
  // A run from before the latest judgement of this source (a past --now) must not undo it.
  const judgedAt = Math.max(
    Date.parse(latestRunOf(last)?.at ?? last.at),
    ...Object.values(last.alerts ?? {}).map((mark) => Date.parse(mark.at)),
  );
  if (judgedAt - now.getTime() > CLOCK_SKEW_MS) return undefined;
  const evaluation = evaluateSource(
    { ...last, name: source.name, provider: providerOf(source), labels: source.labels },
    { alerts: last.alerts ?? {}, resolved: last.resolved ?? {} },
    { now, config, acks },
  );
  if (evaluation.alerts.length === 0) return undefined;
  const recorded = options.dryRun ? [] : await recordNews(evaluation.alerts, options);
  // The marks ride on the last sweep record, as they do for a swept source.
  if (!options.dryRun) await store.updateLastSweep({ ...last, ...evaluation.state });
  return { ...evaluation, recorded };
}

/** Watches sources not swept by this run (staleness), from their last sweep records. */
export async function watchSources(
  given: Pick<SweepOptions, "config" | "store" | "now" | "dryRun">,
  sources: SourceConfig[],
): Promise<News[]> {
  if (!given.config.alerts.staleAfter || sources.length === 0) return [];
  const config = await withSilenceEnds(given.config, given.store, given.now, !given.dryRun);
  const options = { ...given, config };
  const acks = await options.store.acks(options.now);
  const watched = await Promise.all(sources.map((source) => watchUnswept(source, options, acks)));
  return watched.filter((news): news is News => news !== undefined);
}
