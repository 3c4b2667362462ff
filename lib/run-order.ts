import type { SweepRecord } from "./store/store.js";

/** Lambda hosts' clocks differ by seconds: a run that much behind the latest one is not a run from the past. */
export const CLOCK_SKEW_MS = 2 * 60_000;

export type RecordedRun = NonNullable<SweepRecord["latestRun"]>;

/** A run earlier than one already recorded: history is never rewritten backwards. */
export class RunOrderError extends Error {
  override name = "RunOrderError";
}

/** The latest run recorded for a source, from its last sweep record. */
export function latestRunOf(last: SweepRecord | undefined): RecordedRun | undefined {
  return last ? (last.latestRun ?? { at: last.at, runId: last.runId }) : undefined;
}

/** The later of the latest run recorded and this one, to carry on the record this run writes. */
export function laterRun(last: SweepRecord | undefined, run: RecordedRun): RecordedRun {
  const latest = latestRunOf(last);
  return latest && latest.at > run.at ? latest : run;
}

/**
 * What is wrong with a run whose instant is earlier than a run already recorded for the source (a `--now` in the
 * past, or a clock that jumped back): it would resolve what the later run announced and announce it all again after.
 */
export function earlierRunProblem(
  source: string,
  last: SweepRecord | undefined,
  now: Date,
): string | undefined {
  const latest = latestRunOf(last);
  if (!latest || Date.parse(latest.at) - now.getTime() <= CLOCK_SKEW_MS) return undefined;
  return (
    `source ${source}: run ${latest.runId} at ${latest.at} is already recorded, later than this run's ` +
    `${now.toISOString()}; history is never rewritten backwards. Use --dry-run to look at an earlier instant, ` +
    `or a --now at or after ${latest.at}. If that run's clock was wrong, remove its records from the store ` +
    `(pk SRC#${source}, sk LAST and SWEEP#${latest.at}#${latest.runId}).`
  );
}

/** A `--now` ahead of the wall clock: recorded, it would make every real run after it a run from the past. */
export function futureRunProblem(now: Date, wallClock = new Date()): string | undefined {
  if (now.getTime() - wallClock.getTime() <= CLOCK_SKEW_MS) return undefined;
  return (
    `--now ${now.toISOString()} is ahead of this machine's clock (${wallClock.toISOString()}): a run recorded ` +
    "there would make every real run after it one from the past. Add --dry-run to see what that instant would send."
  );
}
