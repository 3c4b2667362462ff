import type { SourceConfig } from "../config/schema.js";
import { SweepLimitError } from "./http.js";
import { timeBudgetOf } from "./scope.js";

/**
 * What `collected` yields, until the source's timeBudget has passed since the first item was asked for. Then the
 * sweep's requests are aborted through `sweepOver` (its signal is the collectors' `CollectContext.signal`) and the
 * collection fails naming the bound, without waiting for a stalled request: the other sources, each with its own
 * budget, finish and deliver.
 */
export async function* withinTimeBudget<T>(
  source: SourceConfig,
  sweepOver: AbortController,
  collected: AsyncIterable<T>,
): AsyncGenerator<T> {
  const budget = timeBudgetOf(source);
  const iterator = collected[Symbol.asyncIterator]();
  let yielded = 0;
  let spent: SweepLimitError | undefined;
  /** Fails the next() being waited for; replaced for each one. */
  let cutShort: ((error: SweepLimitError) => void) | undefined;
  const timer = setTimeout(() => {
    spent = new SweepLimitError(
      `stopped after ${budget.text}, the source's timeBudget, with ${yielded} objects read; its requests were ` +
        "cancelled and nothing stored was changed (raise timeBudget if the source really takes that long)",
    );
    cutShort?.(spent);
    sweepOver.abort(spent);
  }, budget.ms);
  let waiting = false;
  try {
    for (;;) {
      const next = iterator.next();
      // A next() the budget cut short rejects later, once its requests are aborted; nobody waits for it then.
      next.catch(() => undefined);
      waiting = true;
      // Not Promise.race against one promise of the budget: each race would leave it a reaction holding what that
      // next() yielded, so every observation listed (a second copy of the inventory) would live until the budget ends.
      const result = await new Promise<IteratorResult<T>>((resolve, reject) => {
        if (spent) return reject(spent);
        cutShort = reject;
        next.then(resolve, reject);
      });
      cutShort = undefined;
      waiting = false;
      if (result.done) return;
      yielded++;
      yield result.value;
    }
  } finally {
    clearTimeout(timer);
    // The consumer stopped early: the collector, paused at its yield, closes what it holds. Not while a next() is
    // outstanding (the collector failed, or the budget cut it short): return() would wait for it.
    if (!waiting) await iterator.return?.();
  }
}
