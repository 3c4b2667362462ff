import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import type { Alert } from "../model/types.js";
import type { TableClient } from "./client.js";
import { keys } from "./table.js";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

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

  /** Stores the notifications in batches; one alone too big for a batch is written as its own, as a ledger entry would be. */
  async put(notifications: Notification[], at: Date): Promise<void> {
    const batches: { news: Buffer; count: number }[] = [];
    const pack = async (group: Notification[]): Promise<void> => {
      const packed = await gzipAsync(JSON.stringify(group));
      if (packed.length <= BATCH_BYTES || group.length === 1) {
        batches.push({ news: packed, count: group.length });
        return;
      }
      const half = Math.ceil(group.length / 2);
      await pack(group.slice(0, half));
      await pack(group.slice(half));
    };
    for (let start = 0; start < notifications.length; start += PER_BATCH) {
      await pack(notifications.slice(start, start + PER_BATCH));
    }
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
  }

  /** How many notifications for `receiver` wait in the inbox. */
  async waitingFor(receiver: string): Promise<number> {
    let waiting = 0;
    for await (const batch of this.batches()) {
      waiting += batch.notifications.filter((notification) => notification.receiver === receiver).length;
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
      yield {
        notifications: JSON.parse(
          (await gunzipAsync(item.news as Uint8Array)).toString("utf8"),
        ) as Notification[],
        at: new Date(String(item.at)),
        done: () =>
          this.table.write(
            new DeleteCommand({ TableName: this.table.name, Key: key, ReturnConsumedCapacity: "TOTAL" }),
          ),
      };
    }
  }
}
