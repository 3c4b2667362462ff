import { DeleteCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { shared } from "../model/shared.js";
import type { Alert } from "../model/types.js";
import type { TableClient } from "./client.js";
import { keys, PENDING_INDEX, TTL_ATTRIBUTE } from "./table.js";

export type DeliveryState = "pending" | "sending" | "sent" | "failed";

export interface LedgerEntry {
  id: string;
  receiver: string;
  alert: Alert;
  state: DeliveryState;
  createdAt: string;
  attempts: number;
  lastError?: string;
  claimedBy?: string;
  claimedAt?: string;
  sentAt?: string;
}

/** The delivery ledger: each notification recorded once, claimed before it is sent, marked after (docs/STORE.md). */
export class Ledger {
  constructor(private readonly table: TableClient) {}

  /**
   * The ledger's first step: records that `alert` is due at `receiver`. Conditional on the id being new, so a run
   * that is retried after a crash records nothing twice. Returns the entry, or undefined when it was already there.
   */
  async recordNotification(
    receiver: string,
    id: string,
    alert: Alert,
    now: Date,
  ): Promise<LedgerEntry | undefined> {
    const entry: LedgerEntry = {
      id,
      receiver,
      alert,
      state: "pending",
      createdAt: shared(now.toISOString()),
      attempts: 0,
    };
    const recorded = await this.table.writeIf(
      new PutCommand({
        TableName: this.table.name,
        Item: { pk: keys.receiver(receiver), sk: id, ...entry, pendingFor: receiver },
        ConditionExpression: "attribute_not_exists(pk)",
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    return recorded ? entry : undefined;
  }

  /**
   * Ledger entries waiting for a receiver (pending, or sending under an expired claim), oldest first. The index is
   * eventually consistent on DynamoDB: entries recorded moments ago may be missing, so callers add their own.
   */
  async pendingFor(receiver: string): Promise<LedgerEntry[]> {
    const entries: LedgerEntry[] = [];
    for await (const item of this.table.query({
      IndexName: PENDING_INDEX,
      KeyConditionExpression: "pendingFor = :receiver",
      ExpressionAttributeValues: { ":receiver": receiver },
    })) {
      entries.push({ ...(item as unknown as LedgerEntry), id: String(item.sk) });
    }
    return entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /**
   * The ids of the ledger entries waiting for each receiver, by whatever name they were recorded under: a Scan of the
   * sparse pending index, which holds only waiting entries. Unlike a query per configured name, it finds the
   * entries of a receiver the config no longer names.
   */
  async pendingIds(): Promise<Map<string, Set<string>>> {
    const waiting = new Map<string, Set<string>>();
    for await (const item of this.table.scan({
      IndexName: PENDING_INDEX,
      ProjectionExpression: "pendingFor, sk",
    })) {
      const receiver = String(item.pendingFor);
      waiting.set(receiver, (waiting.get(receiver) ?? new Set()).add(String(item.sk)));
    }
    return waiting;
  }

  /** Deletes an entry this run claimed (one moved to another receiver); false when the claim is no longer ours. */
  forgetNotification(entry: LedgerEntry, runId: string): Promise<boolean> {
    return this.table.writeIf(
      new DeleteCommand({
        TableName: this.table.name,
        Key: { pk: keys.receiver(entry.receiver), sk: entry.id },
        ConditionExpression: "claimedBy = :run",
        ExpressionAttributeValues: { ":run": runId },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /**
   * Takes an entry for sending. Succeeds for a pending entry, or one whose previous claim is older than the
   * lease (its run died between send and mark). Exactly one of several concurrent claimers wins.
   */
  async claim(entry: LedgerEntry, runId: string, now: Date, leaseMs: number): Promise<boolean> {
    return this.table.writeIf(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: keys.receiver(entry.receiver), sk: entry.id },
        UpdateExpression: "SET #state = :sending, claimedBy = :run, claimedAt = :now",
        ConditionExpression: "#state = :pending OR (#state = :sending AND claimedAt < :leaseStart)",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":sending": "sending",
          ":pending": "pending",
          ":run": runId,
          ":now": now.toISOString(),
          ":leaseStart": new Date(now.getTime() - leaseMs).toISOString(),
        },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  private async finish(
    entry: LedgerEntry,
    runId: string,
    now: Date,
    outcome: { state: DeliveryState; error?: string },
  ): Promise<void> {
    const done = outcome.state === "sent" || outcome.state === "failed";
    await this.table.write(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: keys.receiver(entry.receiver), sk: entry.id },
        // A finished entry leaves the pending index and ages out; a released one waits for the next run.
        UpdateExpression: done
          ? "SET #state = :state, finishedAt = :now, attempts = attempts + :one, lastError = :error, #ttl = :ttl REMOVE pendingFor"
          : "SET #state = :state, attempts = attempts + :one, lastError = :error REMOVE claimedBy, claimedAt",
        ConditionExpression: "claimedBy = :run",
        ExpressionAttributeNames: { "#state": "state", ...(done ? { "#ttl": TTL_ATTRIBUTE } : {}) },
        ExpressionAttributeValues: {
          ":state": outcome.state,
          ":one": 1,
          ":error": this.table.redact(outcome.error) ?? null,
          ":run": runId,
          ...(done ? { ":now": now.toISOString(), ":ttl": this.table.expiresAt(now) } : {}),
        },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  markSent(entry: LedgerEntry, runId: string, now: Date): Promise<void> {
    return this.finish(entry, runId, now, { state: "sent" });
  }

  /** A retryable failure: the entry goes back to pending for the next run. */
  release(entry: LedgerEntry, runId: string, now: Date, error: string): Promise<void> {
    return this.finish(entry, runId, now, { state: "pending", error });
  }

  markFailed(entry: LedgerEntry, runId: string, now: Date, error: string): Promise<void> {
    return this.finish(entry, runId, now, { state: "failed", error });
  }
}
