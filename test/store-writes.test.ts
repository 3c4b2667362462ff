import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Store } from "../lib/store/store.js";
import { observation } from "./fixtures.js";
import { withEmbeddedStore } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const AT = NOW.toISOString();

let store: Store;
withEmbeddedStore((opened) => (store = opened));

const stored = (n: number) => ({
  observation: observation({ nativeId: `c${n}` }),
  firstSeenAt: AT,
  changedAt: AT,
  alerts: {},
  resolved: {},
});

describe("the store's batched writes", () => {
  it("deletes no object whose gone item could not be written: a failed batch stops what comes after it", async () => {
    const objects = Array.from({ length: 60 }, (_, n) => stored(n));
    await store.writeObjects("writes", { changed: objects, gone: [], returned: [] }, NOW);
    expect((await store.loadObjects("writes")).size).toBe(60);

    // One gone item over DynamoDB's 400 KB item limit: its batch is refused.
    const gone = objects.map((object, n) => ({
      key: object.observation.key,
      firstSeenAt: AT,
      goneAt: AT,
      resolved: n === 40 ? { ["x".repeat(450_000)]: 1 } : {},
    }));
    await expect(store.writeObjects("writes", { changed: [], gone, returned: [] }, NOW)).rejects.toThrow();
    // Every object is still there, to be confirmed gone again by the next sweep: no history was lost.
    expect((await store.loadObjects("writes")).size).toBe(60);

    // Written whole, the same change moves all sixty.
    const fine = gone.map((item) => ({ ...item, resolved: {} }));
    await store.writeObjects("writes", { changed: [], gone: fine, returned: [] }, NOW);
    expect((await store.loadObjects("writes")).size).toBe(0);
    expect((await store.loadGone("writes")).size).toBe(60);
  });
});

describe("snapshots", () => {
  it("an inventory that compresses to more than one item is written in parts and read back whole", async () => {
    // Random names compress little: about 1.3 MB of gzip, five parts of at most 300 KB.
    const observations = Array.from({ length: 2_000 }, (_, n) =>
      observation({ nativeId: `s${n}`, name: randomBytes(500).toString("base64") }),
    );
    const parts = await store.writeSnapshot("snapshots", AT, observations, NOW);
    expect(parts).toBeGreaterThanOrEqual(4);
    const read: { at: string; observations: unknown[] }[] = [];
    for await (const snapshot of store.snapshots("snapshots")) read.push(snapshot);
    expect(read).toEqual([{ at: AT, observations }]);
  });
});
