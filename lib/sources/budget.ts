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
  let timer: NodeJS.Timeout | undefined;
  const spent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new SweepLimitError(
        `stopped after ${budget.text}, the source's timeBudget, with ${yielded} objects read; its requests were ` +
          "cancelled and nothing stored was changed (raise timeBudget if the source really takes that long)",
      );
      sweepOver.abort(error);
      reject(error);
    }, budget.ms);
  });
  // Raced against every next(), where its rejection is handled; after the last one nobody wants it.
  spent.catch(() => undefined);
  let waiting = false;
  try {
    for (;;) {
      const next = iterator.next();
      // A next() the budget cut short rejects later, once its requests are aborted; nobody waits for it then.
      next.catch(() => undefined);
      waiting = true;
      const result = await Promise.race([next, spent]);
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
