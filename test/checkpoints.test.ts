import { createHash } from "node:crypto";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Checkpoint } from "../lib/store/checkpoints.js";
import { TableClient } from "../lib/store/client.js";
import type { EmbeddedDynamo } from "../lib/store/embedded.js";
import type { Store } from "../lib/store/store.js";
import { keys as tableKeys, TTL_ATTRIBUTE } from "../lib/store/table.js";
import { embeddedStore } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
/** DynamoDB's item size limit. */
const ITEM_LIMIT = 400 * 1024;

/** `count` object keys of 60 characters each, as hard to compress as real ids (hashes). */
function objectKeys(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, index) => {
    const id = createHash("sha256")
      .update(String(from + index))
      .digest("hex");
    return `big-source/certificate/${id}`.slice(0, 60);
  });
}

function checkpointOf(source: string, part: number, seen: string[]): Checkpoint {
  return {
    source,
    runId: "run-1",
    startedAt: NOW.toISOString(),
    part,
    place: { page: part * 700 + 1, served: seen.length, total: 150_000 },
    seen,
  };
}

/** A DynamoDB item's size as DynamoDB counts it: each attribute's name and value, binary by its bytes. */
function itemBytes(item: Record<string, unknown>): number {
  return Object.entries(item).reduce(
    (sum, [name, value]) =>
      sum + name.length + (value instanceof Uint8Array ? value.byteLength : JSON.stringify(value).length),
    0,
  );
}

let dynamo: EmbeddedDynamo;
let store: Store;
let table: TableClient;
beforeAll(async () => {
  ({ dynamo, store } = await embeddedStore());
  table = new TableClient({ table: store.tableName, endpoint: dynamo.endpoint, historyDays: 90 });
});
afterAll(async () => {
  table.close();
  store.close();
  await dynamo.close();
});

async function checkpointItems(source: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const item of table.queryPrefix(tableKeys.source(source), tableKeys.checkpoint))
    items.push(item);
  return items;
}

describe("checkpoints of a sweep in parts", () => {
  it("keeps 150,000 keys over two parts in chunks under the item limit, part 2 only appending its own", async () => {
    const first = objectKeys(0, 100_000);
    const second = objectKeys(100_000, 50_000);
    const part1 = checkpointOf("big", 1, first);
    expect(await store.checkpoints.save(part1, NOW)).toBe(true);
    const afterPart1 = await checkpointItems("big");
    const part2 = {
      ...checkpointOf("big", 2, [...first, ...second]),
      unsettled: "the total moved",
    };
    expect(await store.checkpoints.save(part2, NOW)).toBe(true);

    const loaded = await store.checkpoints.load("big");
    expect(loaded).toEqual(part2);
    expect(loaded?.seen).toEqual([...first, ...second]);

    const items = await checkpointItems("big");
    // Part 1's chunks are as it wrote them; the head is the one item both parts wrote.
    const chunksOf = (list: Record<string, unknown>[]) =>
      list.filter((item) => item.sk !== tableKeys.checkpoint);
    expect(chunksOf(items).slice(0, chunksOf(afterPart1).length)).toEqual(chunksOf(afterPart1));
    expect(chunksOf(items).length).toBeGreaterThan(chunksOf(afterPart1).length);
    for (const item of items) {
      expect(itemBytes(item), String(item.sk)).toBeLessThan(ITEM_LIMIT);
      // Two days: gone by itself if the sweep that saved it died.
      expect(item[TTL_ATTRIBUTE]).toBe(NOW.getTime() / 1000 + 2 * 86_400);
    }
  }, 60_000);

  it("refuses a second save of the same part, and a part that does not follow the saved one", async () => {
    const seen = objectKeys(0, 10);
    expect(await store.checkpoints.save(checkpointOf("twice", 1, seen), NOW)).toBe(true);
    expect(await store.checkpoints.save(checkpointOf("twice", 1, seen), NOW)).toBe(false);
    const part2 = checkpointOf("twice", 2, [...seen, ...objectKeys(10, 10)]);
    expect(await store.checkpoints.save(part2, NOW)).toBe(true);
    // The same message delivered again: it cannot advance the checkpoint, nor change what it holds.
    expect(await store.checkpoints.save({ ...part2, seen: [...seen, ...objectKeys(50, 10)] }, NOW)).toBe(
      false,
    );
    expect(await store.checkpoints.save({ ...checkpointOf("twice", 3, seen), runId: "run-2" }, NOW)).toBe(
      false,
    );
    expect(await store.checkpoints.load("twice")).toEqual(part2);
  });

  it("keeps what the winner of two deliveries racing past the head's check saved, not the loser's chunks", async () => {
    const seen = objectKeys(0, 10);
    expect(await store.checkpoints.save(checkpointOf("race", 1, seen), NOW)).toBe(true);
    const deliveries = [objectKeys(100, 10), objectKeys(200, 10)].map((added) =>
      checkpointOf("race", 2, [...seen, ...added]),
    );
    const saved = await Promise.all(deliveries.map((delivery) => store.checkpoints.save(delivery, NOW)));
    expect(saved.filter(Boolean)).toEqual([true]);
    expect(await store.checkpoints.load("race")).toEqual(deliveries[saved.indexOf(true)]);
  });

  it("lets a new sweep start over a checkpoint left past its TTL, which DynamoDB deletes only some time later", async () => {
    const abandoned = checkpointOf("abandoned", 1, objectKeys(0, 10));
    expect(await store.checkpoints.save(abandoned, NOW)).toBe(true);
    const next = { ...checkpointOf("abandoned", 1, objectKeys(10, 10)), runId: "run-2" };
    expect(await store.checkpoints.save(next, new Date(NOW.getTime() + 86_400_000))).toBe(false);
    expect(await store.checkpoints.save(next, new Date(NOW.getTime() + 3 * 86_400_000))).toBe(true);
    expect(await store.checkpoints.load("abandoned")).toEqual(next);
  });

  it("is gone once cleared, head and chunks", async () => {
    expect(await store.checkpoints.save(checkpointOf("cleared", 1, objectKeys(0, 1_000)), NOW)).toBe(true);
    expect(await store.checkpoints.exists("cleared", NOW)).toBe(true);
    // Its head past its TTL, not yet deleted by DynamoDB, holds nothing to continue.
    expect(await store.checkpoints.exists("cleared", new Date(NOW.getTime() + 3 * 86_400_000))).toBe(false);
    await store.checkpoints.clear("cleared");
    expect(await store.checkpoints.exists("cleared", NOW)).toBe(false);
    expect(await store.checkpoints.load("cleared")).toBeUndefined();
    expect(await checkpointItems("cleared")).toEqual([]);
    // A new sweep starts afresh.
    expect(await store.checkpoints.save(checkpointOf("cleared", 1, objectKeys(0, 5)), NOW)).toBe(true);
  });

  it("is not loaded when a chunk its head names is missing", async () => {
    expect(await store.checkpoints.save(checkpointOf("torn", 1, objectKeys(0, 100)), NOW)).toBe(true);
    const chunk = (await checkpointItems("torn")).find((item) => item.sk !== tableKeys.checkpoint);
    await table.write(
      new DeleteCommand({ TableName: table.name, Key: { pk: tableKeys.source("torn"), sk: chunk?.sk } }),
    );
    expect(await store.checkpoints.load("torn")).toBeUndefined();
  });
});
