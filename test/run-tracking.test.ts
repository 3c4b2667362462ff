import { describe, expect, it } from "vitest";
import {
  finishSweep,
  isNotifyRequest,
  notifyReason,
  RUN_DEADLINE_MS,
  startRun,
} from "../lib/run-tracking.js";
import type { RunProgress } from "../lib/store/runs.js";
import { Store } from "../lib/store/store.js";
import { withEmbeddedStore } from "./harness.js";

const DISPATCHED = new Date("2026-03-02T01:00:00Z");
const MINUTE = 60_000;
const minutesAfter = (minutes: number) => new Date(DISPATCHED.getTime() + minutes * MINUTE);

describe("when a sweep asks for notify", () => {
  const progress = (swept: number): RunProgress => ({
    runId: "r",
    expected: 3,
    swept,
    dispatchedAt: DISPATCHED.toISOString(),
    deadline: minutesAfter(10).toISOString(),
  });

  it("the sweep that completes the run asks, with news or without", () => {
    expect(notifyReason(progress(3), false, minutesAfter(2))).toBe("run-complete");
    expect(notifyReason(progress(3), true, minutesAfter(30))).toBe("run-complete");
  });

  it("before the deadline, an earlier sweep's news waits for the last sweep", () => {
    expect(notifyReason(progress(2), true, minutesAfter(9))).toBeUndefined();
  });

  it("past the deadline, a sweep with news asks; one without does not", () => {
    expect(notifyReason(progress(2), true, minutesAfter(10))).toBe("late-news");
    expect(notifyReason(progress(2), false, minutesAfter(40))).toBeUndefined();
  });

  it("tells a sweep's request from the schedule's event and from a person's empty one", () => {
    expect(isNotifyRequest({ runId: "r", reason: "late-news", source: "s" })).toBe(true);
    expect(isNotifyRequest({ "detail-type": "Scheduled Event", id: "e-1", source: "aws.events" })).toBe(
      false,
    );
    expect(isNotifyRequest({})).toBe(false);
    expect(isNotifyRequest(undefined)).toBe(false);
  });
});

describe("run progress in the table (RUN#<run id>)", () => {
  let store: Store;
  withEmbeddedStore((opened) => (store = opened));

  it("dispatch records how many sources the run waits for, and a deadline ten minutes on", async () => {
    await startRun(store, "run-a", 2, DISPATCHED);
    expect(await store.runs.countSwept("run-a", "one")).toEqual({
      runId: "run-a",
      expected: 2,
      swept: 1,
      dispatchedAt: DISPATCHED.toISOString(),
      deadline: new Date(DISPATCHED.getTime() + RUN_DEADLINE_MS).toISOString(),
    });
    expect(RUN_DEADLINE_MS).toBe(10 * MINUTE);
  });

  it("a redelivered message counts once, and a retried dispatch keeps what was counted", async () => {
    await startRun(store, "run-b", 2, DISPATCHED);
    expect((await store.runs.countSwept("run-b", "one"))?.swept).toBe(1);
    expect((await store.runs.countSwept("run-b", "one"))?.swept).toBe(1);
    await startRun(store, "run-b", 2, minutesAfter(1));
    expect(await store.runs.countSwept("run-b", "two")).toMatchObject({
      swept: 2,
      dispatchedAt: DISPATCHED.toISOString(),
    });
  });

  it("of many sweeps finishing at once, exactly one completes the run", async () => {
    const sources = Array.from({ length: 25 }, (_, n) => `source-${n}`);
    await startRun(store, "run-c", sources.length, DISPATCHED);
    const requests = await Promise.all(
      sources.map((source) =>
        finishSweep(store, { runId: "run-c", source, dispatchedAt: "" }, false, minutesAfter(3)),
      ),
    );
    expect(requests.filter((request) => request !== undefined)).toEqual([
      { runId: "run-c", reason: "run-complete", source: expect.any(String) },
    ]);
  });

  it("counting a sweep is one write, of one unit per KB of the run's source names", async () => {
    const sources = Array.from({ length: 100 }, (_, n) => `source-${String(n).padStart(5, "0")}`);
    await startRun(store, "run-cost", sources.length, DISPATCHED);
    for (const source of sources.slice(0, -1)) await store.runs.countSwept("run-cost", source);
    const before = store.usage.writeUnits;
    await store.runs.countSwept("run-cost", sources.at(-1) ?? "");
    expect(store.usage.writeUnits - before).toBe(2);
  });

  it("a run dispatch did not record is not tracked: its news is left to the schedule", async () => {
    expect(await store.runs.countSwept("run-unknown", "one")).toBeUndefined();
    expect(
      await finishSweep(
        store,
        { runId: "run-unknown", source: "one", dispatchedAt: "" },
        true,
        minutesAfter(60),
      ),
    ).toBeUndefined();
  });
});
