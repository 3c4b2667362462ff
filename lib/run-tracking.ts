import type { SweepRequest } from "./dispatch.js";
import type { RunProgress } from "./store/runs.js";
import type { Store } from "./store/store.js";

/*
 * When notify runs on Lambda: as soon as a run's last sweep is done, and for news a sweep records after the run's
 * deadline (a slow sweep, or one SQS retried after its visibility timeout). The notify schedule stays as the
 * safety net for runs that never complete (a message dead-lettered). Concurrent notifies are safe: the ledger's
 * claims let each notification be sent once.
 */

/**
 * How long after its dispatch (the scheduled instant) a run's news may wait for its last sweep: the default
 * notifySchedule runs this long after dispatchSchedule. A sweep that has news after it asks for notify itself.
 */
export const RUN_DEADLINE_MS = 10 * 60_000;

/**
 * `run-complete`: this sweep completed the run (or is a redelivery after it). `late-news`: news past the deadline.
 * `part-news`: news from a part of a sweep in parts, whose last part may be an hour away (lib/sweep-parts.ts).
 */
export type NotifyReason = "run-complete" | "late-news" | "part-news";

/** What a sweep worker sends the notify function when it asks it to run now. */
export interface NotifyRequest {
  runId: string;
  reason: NotifyReason;
  /** The source whose sweep asked. */
  source: string;
}

/** Runs the notify function without waiting for it (on Lambda, an asynchronous invocation). */
export type NotifyTrigger = (request: NotifyRequest) => Promise<void>;

export function isNotifyRequest(event: unknown): event is NotifyRequest {
  const { runId, reason, source } = (event ?? {}) as Partial<NotifyRequest>;
  return (
    typeof runId === "string" &&
    typeof source === "string" &&
    (reason === "run-complete" || reason === "late-news" || reason === "part-news")
  );
}

/** Dispatch: records how many sweeps the run waits for, and until when, before any message goes out. */
export async function startRun(
  store: Store,
  runId: string,
  sources: number,
  dispatchedAt: Date,
): Promise<void> {
  await store.runs.start(
    {
      runId,
      expected: sources,
      dispatchedAt: dispatchedAt.toISOString(),
      deadline: new Date(dispatchedAt.getTime() + RUN_DEADLINE_MS).toISOString(),
    },
    dispatchedAt,
  );
}

/**
 * Whether notify should run now rather than wait. A redelivered message of a complete run asks again: the attempt
 * it repeats may have failed before it could ask, and one notify too many sends nothing twice.
 */
export function notifyReason(progress: RunProgress, hasNews: boolean, now: Date): NotifyReason | undefined {
  if (progress.swept >= progress.expected) return "run-complete";
  if (hasNews && now.getTime() >= Date.parse(progress.deadline)) return "late-news";
  return undefined;
}

/**
 * A sweep worker, once its sweep is recorded: counts it done for its run, and answers the request for notify to
 * send when one is due. A run dispatch did not record (a message sent by hand) leaves its news to the schedule.
 */
export async function finishSweep(
  store: Store,
  request: SweepRequest,
  hasNews: boolean,
  now: Date,
): Promise<NotifyRequest | undefined> {
  const progress = await store.runs.countSwept(request.runId, request.source);
  const reason = progress && notifyReason(progress, hasNews, now);
  return reason && { runId: request.runId, reason, source: request.source };
}
