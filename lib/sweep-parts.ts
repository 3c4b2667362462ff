import type { Seen } from "./diff.js";
import type { ListingPlace } from "./sources/types.js";
import type { Checkpoint } from "./store/checkpoints.js";
import type { Store } from "./store/store.js";
import type { SourceOutcome } from "./sweep-source.js";

/*
 * Sweeps bigger than one run. A collector that can resume (it tells `CollectContext.reached` its places) stops at
 * its first place after PART_SHARE of the source's timeBudget, or when the run is interrupted; the sweep writes what
 * that part saw, saves the place and the keys seen, and continues in a follow-up (another message on Lambda, the
 * next loop on the CLI). Only the last part's listing can be complete: nothing is missing or gone before it.
 */

/** The share of a source's timeBudget a part collects for, leaving the rest to write what it saw. */
const PART_SHARE = 0.75;

/** A sweep in parts begun longer ago than this starts again: what its first parts saw is too old to complete it. */
const CHECKPOINT_MAX_AGE_MS = 24 * 3_600_000;

/** Thrown from `reached` when the part is over: the collector stops at `place`, from which the next part resumes. */
export class PartOver extends Error {
  constructor(readonly place: ListingPlace) {
    super("the sweep's part is over");
    this.name = "PartOver";
  }
}

/** When a part collecting from `started` stops at its next place. */
export function partEndsAt(started: number, timeBudgetMs: number): number {
  return started + PART_SHARE * timeBudgetMs;
}

/**
 * The saved place of a sweep in parts of `source`, unless it is too old to complete (then dropped, with a warning).
 * One that cannot be read fails the sweep: starting again would leave the saved place in the way of the new one.
 */
export async function resumableCheckpoint(
  store: Store,
  source: string,
  now: Date,
  warn: (message: string) => void,
): Promise<Checkpoint | undefined> {
  let checkpoint: Checkpoint | undefined;
  try {
    checkpoint = await store.checkpoints.load(source);
  } catch (caught) {
    throw new Error(
      `the saved place of this sweep in parts could not be read (${(caught as Error).message}); the next sweep ` +
        "continues from it",
      { cause: caught },
    );
  }
  if (!checkpoint) return undefined;
  if (now.getTime() - Date.parse(checkpoint.startedAt) <= CHECKPOINT_MAX_AGE_MS) return checkpoint;
  warn(
    `a sweep in parts begun at ${checkpoint.startedAt} (${checkpoint.part} parts done) is more than a day old; ` +
      "sweeping from the start",
  );
  await store.checkpoints.clear(source).catch(() => undefined);
  return undefined;
}

/**
 * The last part adds what earlier parts saw (each already written, so stored as seen) to what it saw itself. An
 * object listed by two parts means the listing moved between them: the answer is the reason the listing is not
 * complete, or undefined.
 */
export function addEarlierParts(seen: Seen, checkpoint: Checkpoint): string | undefined {
  let twice: string | undefined;
  // The checkpoint holds each key once: one seen already is one this part listed.
  for (const key of checkpoint.seen) {
    if (seen.has(key)) twice ??= key;
    else seen.addStored(key);
  }
  if (twice === undefined) return checkpoint.unsettled;
  return (
    checkpoint.unsettled ??
    `${twice} was listed by part ${checkpoint.part + 1} after an earlier part listed it: the listing moved between parts`
  );
}

/** A sweep done in parts within one run (the CLI) as one outcome: its news and counts added up, its last state. */
export function joinParts(earlier: SourceOutcome, later: SourceOutcome): SourceOutcome {
  const sum = (field: "added" | "changed" | "calls" | "retries" | "throttled" | "durationMs") =>
    earlier.report[field] + later.report[field];
  return {
    alerts: [...earlier.alerts, ...later.alerts],
    silenced: [...earlier.silenced, ...later.silenced],
    acknowledged: [...earlier.acknowledged, ...later.acknowledged],
    recorded: [...earlier.recorded, ...later.recorded],
    report: {
      ...later.report,
      added: sum("added"),
      changed: sum("changed"),
      calls: sum("calls"),
      retries: sum("retries"),
      throttled: sum("throttled"),
      durationMs: sum("durationMs"),
      warnings: [...earlier.report.warnings, ...later.report.warnings],
    },
  };
}
