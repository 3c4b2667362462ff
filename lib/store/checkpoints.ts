import { randomUUID } from "node:crypto";
import { DeleteCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { ListingPlace } from "../sources/types.js";
import { DAY_SECONDS, type TableClient, type WriteRequest } from "./client.js";
import { packJson, unpackJson } from "./gzip-json.js";
import { keys, TTL_ATTRIBUTE } from "./table.js";

/** DynamoDB caps items at 400 KB; chunks stay well under it, as snapshot parts do. */
const CHUNK_BYTES = 300_000;

/** A checkpoint outlives the minutes between a sweep's parts by far; one left by a sweep that died goes by itself. */
const CHECKPOINT_DAYS = 2;

/** A sweep of one source between its parts: where its listing stopped, and what the parts so far saw and counted. */
export interface Checkpoint {
  source: string;
  runId: string;
  /** ISO: the first part's instant. */
  startedAt: string;
  /** Parts done. */
  part: number;
  place: ListingPlace;
  /** Every object key seen by the parts so far: the earlier parts' first, as `load` returned them. */
  seen: string[];
  unsettled?: string;
}

/** What one part added, written as gzip JSON in chunks named by `save` (a fresh id for each save). */
interface PartLayout {
  save: string;
  chunks: number;
  keys: number;
}

interface Head {
  runId: string;
  startedAt: string;
  part: number;
  place: ListingPlace;
  unsettled?: string;
  parts: PartLayout[];
}

interface PartPayload {
  seen: string[];
}

/** A head past its TTL: DynamoDB deletes it within days, but it holds nothing to continue from already. */
function pastTtl(head: { expiresAt: number }, now: Date): boolean {
  return head.expiresAt < Math.floor(now.getTime() / 1000);
}

/**
 * Each source's sweep in progress, saved between its parts (one Lambda run each). A part appends only the keys it
 * added, in chunk items of its own, then writes the small head item last, conditionally: two deliveries
 * of the same part cannot both advance it. Chunks are named by a fresh id per save, so those of a delivery that lost
 * the race are never read as the winner's.
 */
export class Checkpoints {
  constructor(private readonly table: TableClient) {}

  /** The source's saved sweep, or undefined when there is none or its chunks are not all there. */
  async load(source: string): Promise<Checkpoint | undefined> {
    const head = await this.head(source);
    if (!head) return undefined;
    const chunks = new Map<string, Uint8Array[]>();
    for await (const item of this.table.query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: {
        ":pk": keys.source(source),
        ":prefix": keys.checkpointChunksOf(head.runId),
      },
      ConsistentRead: true,
    })) {
      const save = String(item.save);
      chunks.set(save, [...(chunks.get(save) ?? []), item.data as Uint8Array]);
    }
    const seen: string[] = [];
    for (const layout of head.parts) {
      const data = chunks.get(layout.save) ?? [];
      if (data.length !== layout.chunks) return undefined;
      const payload = await unpackJson<PartPayload>(data);
      if (payload.seen.length !== layout.keys) return undefined;
      seen.push(...payload.seen);
    }
    const { parts: _parts, expiresAt: _expiresAt, ...rest } = head;
    return { source, ...rest, seen };
  }

  /**
   * Saves the sweep after its part `checkpoint.part`: false, writing nothing, when the head is not the one that part
   * follows (part 1: none, or one past its TTL that DynamoDB has not deleted yet; else part - 1 of the same run), as
   * when the message that ran the part came twice.
   */
  async save(checkpoint: Checkpoint, now: Date): Promise<boolean> {
    const { source, runId, part } = checkpoint;
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const before = await this.head(source);
    const expired = before !== undefined && pastTtl(before, now);
    const follows =
      part === 1 ? !before || expired : !expired && before?.runId === runId && before.part === part - 1;
    if (!follows) return false;
    const earlier = part === 1 ? [] : (before?.parts ?? []);
    const stored = earlier.reduce((sum, layout) => sum + layout.keys, 0);
    const payload: PartPayload = { seen: checkpoint.seen.slice(stored) };
    const packed = await packJson(JSON.stringify(payload));
    const save = randomUUID();
    const chunks = Math.max(1, Math.ceil(packed.length / CHUNK_BYTES));
    const expiresAt = nowSeconds + CHECKPOINT_DAYS * DAY_SECONDS;
    for (let chunk = 0; chunk < chunks; chunk++) {
      await this.table.write(
        new PutCommand({
          TableName: this.table.name,
          Item: {
            pk: keys.source(source),
            sk: keys.checkpointChunk(runId, part, save, chunk),
            save,
            data: packed.subarray(chunk * CHUNK_BYTES, (chunk + 1) * CHUNK_BYTES),
            [TTL_ATTRIBUTE]: expiresAt,
          },
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
    }
    const head: Head = {
      runId,
      startedAt: checkpoint.startedAt,
      part,
      place: checkpoint.place,
      ...(checkpoint.unsettled !== undefined ? { unsettled: checkpoint.unsettled } : {}),
      parts: [...earlier, { save, chunks, keys: payload.seen.length }],
    };
    return this.table.writeIf(
      new PutCommand({
        TableName: this.table.name,
        Item: { pk: keys.source(source), sk: keys.checkpoint, ...head, [TTL_ATTRIBUTE]: expiresAt },
        ...(part === 1
          ? {
              ConditionExpression: "attribute_not_exists(pk) OR #ttl < :now",
              ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE },
              ExpressionAttributeValues: { ":now": nowSeconds },
            }
          : {
              ConditionExpression: "#part = :previous AND runId = :run",
              ExpressionAttributeNames: { "#part": "part" },
              ExpressionAttributeValues: { ":previous": part - 1, ":run": runId },
            }),
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /** Whether a sweep of the source is saved between parts: its head alone, without reading the keys it holds. */
  async exists(source: string, now: Date): Promise<boolean> {
    const head = await this.head(source);
    return head !== undefined && !pastTtl(head, now);
  }

  /** Deletes the source's saved sweep: its head first, so that one cleared half-way is never loaded. */
  async clear(source: string): Promise<void> {
    const pk = keys.source(source);
    await this.table.write(
      new DeleteCommand({
        TableName: this.table.name,
        Key: { pk, sk: keys.checkpoint },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const chunks: WriteRequest[] = [];
    for await (const item of this.table.query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": pk, ":prefix": keys.checkpointChunkPrefix },
      ProjectionExpression: "sk",
    })) {
      chunks.push({ DeleteRequest: { Key: { pk, sk: item.sk } } });
    }
    await this.table.writeAll(chunks);
  }

  private async head(source: string): Promise<(Head & { expiresAt: number }) | undefined> {
    const item = await this.table.get({ pk: keys.source(source), sk: keys.checkpoint }, true);
    if (!item) return undefined;
    const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: expiresAt, ...head } = item;
    return { ...(head as unknown as Head), expiresAt: Number(expiresAt) };
  }
}
