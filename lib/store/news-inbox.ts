import { randomUUID } from "node:crypto";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import type { Alert } from "../model/types.js";
import type { TableClient } from "./client.js";
import { packJson, unpackJson } from "./gzip-json.js";
import { keys } from "./table.js";

/** One alert due at one receiver, under the ledger id that makes it news once. */
export interface Notification {
  receiver: string;
  id: string;
  alert: Alert;
}

/** What a batch holds at most, compressed: DynamoDB caps items at 400 KB. */
const BATCH_BYTES = 300_000;
/** Notifications packed together before compressing; fewer when they do not fit in BATCH_BYTES. */
const PER_BATCH = 1_000;
/**
 * A notification this big (as JSON) would not fit a ledger entry: it is not put in a batch, where it would compress
 * and only fail once delivery records it, holding back the news behind it.
 */
const LEDGER_ENTRY_BYTES = 350_000;

/** A batch as read back: its notifications, when they were news, and the means to drop it once they are recorded. */
export interface NewsBatch {
  notifications: Notification[];
  at: Date;
  done(): Promise<void>;
}

/**
 * A sweep's news, many notifications a write: gzip JSON batches waiting for delivery to record each in the ledger
 * (docs/STORE.md, "News inbox"). A first sweep of a big source has tens of thousands of notifications, and each
 * ledger entry is its own conditional write; here they cost a few batch writes, and the ledger's conditions, which
 * keep each notification recorded once, are met where delivery happens.
 */
export class NewsInbox {
  constructor(private readonly table: TableClient) {}

  /**
   * Stores the notifications in batches. Returns those too big for a ledger entry, for the caller to record one by
   * one, where the store's refusal is the sweep's own error, as it was before there was an inbox.
   */
  async put(notifications: Notification[], at: Date): Promise<Notification[]> {
    const batches: { news: Buffer; count: number }[] = [];
    const pack = async (group: string[]): Promise<void> => {
      const packed = await packJson(`[${group.join(",")}]`);
      if (packed.length <= BATCH_BYTES || group.length === 1) {
        batches.push({ news: packed, count: group.length });
        return;
      }
      const half = Math.ceil(group.length / 2);
      await pack(group.slice(0, half));
      await pack(group.slice(half));
    };
    const tooBig: Notification[] = [];
    let group: string[] = [];
    for (const notification of notifications) {
      const json = JSON.stringify(notification);
      if (Buffer.byteLength(json) > LEDGER_ENTRY_BYTES) tooBig.push(notification);
      else group.push(json);
      if (group.length === PER_BATCH) {
        await pack(group);
        group = [];
      }
    }
    if (group.length > 0) await pack(group);
    // Unique to this call: two parts of one run, or two runs at one instant, never overwrite each other's news.
    const put = randomUUID();
    await this.table.writeAll(
      batches.map(({ news, count }, index) => ({
        PutRequest: {
          Item: {
            pk: keys.newsInbox,
            sk: keys.newsBatch(at.toISOString(), put, index),
            at: at.toISOString(),
            count,
            news,
          },
        },
      })),
    );
    return tooBig;
  }

  /** The notifications waiting in the inbox, by receiver, each id once (a retried sweep stores its news again). */
  async waiting(): Promise<Map<string, Set<string>>> {
    const waiting = new Map<string, Set<string>>();
    for await (const batch of this.batches()) {
      for (const { receiver, id } of batch.notifications) {
        waiting.set(receiver, (waiting.get(receiver) ?? new Set()).add(id));
      }
    }
    return waiting;
  }

  /** Every batch waiting, oldest first, read as written (a consistent read: a batch written a moment ago is there). */
  async *batches(): AsyncGenerator<NewsBatch> {
    for await (const item of this.table.query({
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": keys.newsInbox },
      ConsistentRead: true,
    })) {
      const key = { pk: keys.newsInbox, sk: String(item.sk) };
      const notifications = await unpackJson<Notification[]>(item.news as Uint8Array).catch(
        (error: unknown) => {
          throw new Error(`news batch ${key.sk} cannot be read: ${(error as Error).message}`);
        },
      );
      yield {
        notifications,
        at: new Date(String(item.at)),
        done: () =>
          this.table.write(
            new DeleteCommand({ TableName: this.table.name, Key: key, ReturnConsumedCapacity: "TOTAL" }),
          ),
      };
    }
  }
}
