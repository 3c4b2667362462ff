import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { TableClient } from "./client.js";
import { keys, TTL_ATTRIBUTE } from "./table.js";

/** A Lambda run as dispatch queued it: how many sources it waits for, and until when. */
export interface RunStart {
  runId: string;
  /** Sources dispatched: the run is complete once this many have been swept. */
  expected: number;
  dispatchedAt: string;
  /** Past this instant the run's scheduled notify may have gone by: news no longer waits for the last sweep. */
  deadline: string;
}

export interface RunProgress extends RunStart {
  /** Distinct sources swept so far: a redelivered message counts once. */
  swept: number;
}

/** Each Lambda run's progress, so that the sweep that completes it can have notify run at once (docs/STORE.md). */
export class Runs {
  constructor(private readonly table: TableClient) {}

  /** Records a run before its messages go out. A retried dispatch of the same run keeps what was counted. */
  async start(run: RunStart, now: Date): Promise<void> {
    await this.table.writeIf(
      new PutCommand({
        TableName: this.table.name,
        Item: {
          pk: keys.run(run.runId),
          sk: keys.runProgress,
          ...run,
          [TTL_ATTRIBUTE]: this.table.expiresAt(now),
        },
        ConditionExpression: "attribute_not_exists(pk)",
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /**
   * Counts a source of the run as swept and answers the run's progress; undefined for a run dispatch did not
   * record. One atomic write that adds the source's name to a set, so that a redelivered message counts once and
   * exactly one sweep sees the run complete first.
   */
  async countSwept(runId: string, source: string): Promise<RunProgress | undefined> {
    const item = await this.table.updateIf(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: keys.run(runId), sk: keys.runProgress },
        UpdateExpression: "ADD swept :source",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":source": new Set([source]) },
        ReturnValues: "ALL_NEW",
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    if (!item) return undefined;
    return {
      runId: String(item.runId),
      expected: Number(item.expected),
      dispatchedAt: String(item.dispatchedAt),
      deadline: String(item.deadline),
      swept: (item.swept as Set<string>).size,
    };
  }
}
