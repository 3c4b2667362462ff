import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import type { SourceConfig } from "../lib/config/schema.js";
import { withinTimeBudget } from "../lib/sources/budget.js";
import { SweepLimitError } from "../lib/sources/http.js";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const source = (timeBudget: string) => ({ name: "hw-test", type: "huawei-scm", timeBudget }) as SourceConfig;

describe("a source's time budget", () => {
  it("holds nothing of what the listing yielded once the sweep has let it go", async () => {
    const yielded: WeakRef<object>[] = [];
    async function* listing() {
      for (let n = 0; n < 2_000; n++) {
        const observation = { n, name: `cert-${n}`.padEnd(200, ".") };
        yielded.push(new WeakRef(observation));
        yield observation;
      }
    }
    let count = 0;
    let stillHeld: number | undefined;
    for await (const _observation of withinTimeBudget(source("1h"), new AbortController(), listing())) {
      if (++count !== 1_900) continue;
      // A new macrotask: WeakRefs read in this job are released at its end.
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
      stillHeld = yielded.slice(0, 1_800).filter((ref) => ref.deref() !== undefined).length;
    }
    expect(count).toBe(2_000);
    // Held by the budget, all 1,800 were; V8 may keep the odd one a little longer, whoever yields it.
    expect(stillHeld).toBeLessThan(18);
  });

  it("cuts a stalled listing short with the budget's own error, and aborts its requests", async () => {
    const sweepOver = new AbortController();
    async function* stalled() {
      yield 1;
      await new Promise(() => undefined);
    }
    const read: number[] = [];
    const failure = (async () => {
      for await (const item of withinTimeBudget(source("50ms"), sweepOver, stalled())) read.push(item);
    })().catch((error: unknown) => error);
    const error = await failure;
    expect(error).toBeInstanceOf(SweepLimitError);
    expect((error as Error).message).toContain(
      "stopped after 50ms, the source's timeBudget, with 1 objects read",
    );
    expect(sweepOver.signal.aborted).toBe(true);
    expect(read).toEqual([1]);
  });
});
