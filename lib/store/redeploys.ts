import { DeleteCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { DAY_SECONDS, type TableClient } from "./client.js";
import { keys, TTL_ATTRIBUTE } from "./table.js";

/**
 * One redeploy of one set of deployment workers (a job's failed workers, or all of them), claimed before the job is created so that two runs (or a
 * run and a person) never create two jobs for the same workers; it holds the set until `until`.
 */
export interface RedeployRecord {
  source: string;
  /** Hash of the sorted ids of the workers the job covers. */
  workerSet: string;
  /** `all`: every worker of `fromJob`, with a renewed certificate (`--all-workers`); absent: its failed workers. */
  scope?: "all";
  /**
   * `claimed`: a run is creating the job (or died doing so); `editing`: created, not yet scheduled; `pending`:
   * created and scheduled; `refused`: CAS refused an automatic attempt; `unknown`: CreateDeploymentJob got no clear
   * answer, so the job may exist.
   */
  state: "claimed" | "editing" | "pending" | "refused" | "unknown";
  trigger: "manual" | "automatic";
  /** Who holds the claim: only they release it. */
  claimId: string;
  /** The job whose workers are redeployed, and the job created to redeploy them. */
  fromJob: string;
  jobId?: string;
  error?: string;
  workers: string[];
  resourceIds: string[];
  certIds: string[];
  at: string;
  /** Until when the same worker set is not redeployed again (ISO time; the TTL attribute follows it). */
  until: string;
}

/** Redeploys claimed per set of failed workers, so that no two runs (or a run and a person) create two jobs. */
export class Redeploys {
  constructor(private readonly table: TableClient) {}

  /** Every redeploy recorded for a source, open or past its window, until its TTL removes it. */
  async list(source: string): Promise<RedeployRecord[]> {
    const records: RedeployRecord[] = [];
    for await (const item of this.table.query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": keys.source(source), ":prefix": keys.redeployPrefix },
      ConsistentRead: true,
    })) {
      const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...record } = item;
      records.push(record as unknown as RedeployRecord);
    }
    return records;
  }

  /** Kept for history as long as sweeps are: automation reads it to try a failed job only once. */
  private item(record: RedeployRecord) {
    return {
      pk: keys.source(record.source),
      sk: keys.redeploy(record.workerSet),
      ...record,
      [TTL_ATTRIBUTE]: Math.floor(Date.parse(record.until) / 1000) + this.table.historyDays * DAY_SECONDS,
    };
  }

  /**
   * Claims a worker set for a redeploy: succeeds only when no redeploy of it is recorded, or the recorded one's
   * window has closed. Exactly one of several concurrent claimers wins. `force` takes it regardless.
   */
  async claim(record: RedeployRecord, now: Date, force = false): Promise<boolean> {
    return this.table.writeIf(
      new PutCommand({
        TableName: this.table.name,
        Item: this.item(record),
        ...(force
          ? {}
          : {
              ConditionExpression: "attribute_not_exists(pk) OR #until <= :now",
              ExpressionAttributeNames: { "#until": "until" },
              ExpressionAttributeValues: { ":now": now.toISOString() },
            }),
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /**
   * Moves a claimed redeploy on from state `from`; false when its claim or state changed meanwhile (another run
   * scheduled the job, or took the claim with --force), so that no later state is overwritten with an older one.
   */
  async update(record: RedeployRecord, from: RedeployRecord["state"]): Promise<boolean> {
    return this.table.writeIf(
      new PutCommand({
        TableName: this.table.name,
        Item: this.item(record),
        ConditionExpression: "claimId = :claim AND #state = :from",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: { ":claim": record.claimId, ":from": from },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /** Gives a claim back (CAS refused a redeploy someone asked for by hand): they may fix the cause and try again. */
  async release(record: RedeployRecord): Promise<void> {
    await this.table.writeIf(
      new DeleteCommand({
        TableName: this.table.name,
        Key: { pk: keys.source(record.source), sk: keys.redeploy(record.workerSet) },
        ConditionExpression: "claimId = :claim",
        ExpressionAttributeValues: { ":claim": record.claimId },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }
}
