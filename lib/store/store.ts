import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import {
  type ConsumedCapacity,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { isLoopback } from "../config/schema.js";
import type { Ack, Alert, AlertState, GoneObject, Observation, StoredObject } from "../model/types.js";
import { keys, PENDING_INDEX, TTL_ATTRIBUTE, tableDefinition } from "./table.js";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** DynamoDB caps items at 400 KB; snapshot parts stay well under it. */
const SNAPSHOT_PART_BYTES = 300_000;
const BATCH_SIZE = 25;
const DAY_SECONDS = 86_400;

/** What one sweep of one source did; reported to the operator and kept as the source's history. */
export interface SweepOutcome {
  ok: boolean;
  error?: string;
  objects: number;
  added: number;
  changed: number;
  gone: number;
  /** Objects a complete listing lacked that no look-up or later listing has confirmed gone yet. */
  missing: number;
  calls: number;
  retries: number;
  throttled: number;
  durationMs: number;
  consecutiveFailures: number;
}

/** One sweep of one source. It also carries the source's own alert state forward, so that costs no extra write. */
export interface SweepRecord extends SweepOutcome, AlertState {
  source: string;
  runId: string;
  at: string;
  lastSuccessAt?: string;
  /** When the current run of failed sweeps began. */
  failingSince?: string;
  /** The endpoint whose inventory the source's stored objects are (absent in records older than this field). */
  endpoint?: string;
  /**
   * The run with the latest instant recorded for the source. It is this one unless a run with a later `--now`, or
   * a host whose clock ran ahead, was recorded before it: a run is never recorded before that one (see clock.ts).
   */
  latestRun?: { at: string; runId: string };
}

/** What a sweep writes to a source's objects: changed ones, those confirmed gone, and gone ones that came back. */
export interface ObjectChanges {
  changed: StoredObject[];
  gone: GoneObject[];
  returned: string[];
}

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

/**
 * One redeploy of one set of failed deployment workers, claimed before the job is created so that two runs (or a
 * run and a person) never create two jobs for the same workers; it holds the set until `until`.
 */
export interface RedeployRecord {
  source: string;
  /** Hash of the sorted ids of the failed workers the job covers. */
  workerSet: string;
  /**
   * `claimed`: a run is creating the job (or died doing so); `editing`: created, not yet scheduled; `pending`:
   * created and scheduled; `refused`: CAS refused an automatic attempt; `unknown`: CreateDeploymentJob got no clear
   * answer, so the job may exist.
   */
  state: "claimed" | "editing" | "pending" | "refused" | "unknown";
  trigger: "manual" | "automatic";
  /** Who holds the claim: only they release it. */
  claimId: string;
  /** The job whose workers failed, and the job created to redeploy them. */
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

export interface StoreUsage {
  readUnits: number;
  writeUnits: number;
}

export interface StoreOptions {
  table: string;
  region?: string;
  endpoint?: string;
  /** How long history (sweep records, snapshots, finished ledger entries) is kept. */
  historyDays: number;
  /**
   * Masks secrets in the error texts it stores (a delivery's last error, a sweep's error): the last line behind
   * the masking where those texts are made.
   */
  redact?: (text: string) => string;
}

/** Observations as they come back from DynamoDB (no `undefined` fields), so that fresh ones compare equal. */
export function storedShape(observation: Observation): Observation {
  return JSON.parse(JSON.stringify(observation)) as Observation;
}

/** A sweep record without its item's keys and TTL, so that writing it again puts it where it is meant to go. */
function sweepRecordOf(item: Record<string, unknown> | undefined): SweepRecord | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...record } = item;
  return record as unknown as SweepRecord;
}

function isConditionFailure(error: unknown): boolean {
  return (error as Error).name === "ConditionalCheckFailedException";
}

/** All of certwatch's persistence: one DynamoDB table, whether real or embedded. */
export class Store {
  readonly usage: StoreUsage = { readUnits: 0, writeUnits: 0 };
  private readonly client: DynamoDBDocumentClient;
  private readonly raw: DynamoDBClient;

  constructor(private readonly options: StoreOptions) {
    this.raw = new DynamoDBClient({
      region: options.region ?? process.env.AWS_REGION ?? "local",
      endpoint: options.endpoint,
      // dynalite accepts any credentials; a real endpoint uses the default provider chain.
      ...(options.endpoint && isLoopback(new URL(options.endpoint).hostname)
        ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } }
        : {}),
    });
    this.client = DynamoDBDocumentClient.from(this.raw, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }

  get table(): string {
    return this.options.table;
  }

  private redact(text: string | undefined): string | undefined {
    return text === undefined || !this.options.redact ? text : this.options.redact(text);
  }

  private count(capacity: ConsumedCapacity | ConsumedCapacity[] | undefined, kind: "read" | "write"): void {
    const list = Array.isArray(capacity) ? capacity : capacity ? [capacity] : [];
    const units = list.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
    if (kind === "read") this.usage.readUnits += units;
    else this.usage.writeUnits += units;
  }

  /** Every single-item write goes through here, so that consumed capacity is always counted. */
  private async write(command: PutCommand | UpdateCommand | DeleteCommand): Promise<void> {
    // The SDK's send() is typed per command and accepts no union; all three answer with ConsumedCapacity.
    const result = await this.client.send(command as PutCommand);
    this.count(result.ConsumedCapacity, "write");
  }

  /** A conditional write: false when its condition did not hold, which is an answer, not an error. */
  private async writeIf(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      await this.write(command);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private expiresAt(now: Date): number {
    return Math.floor(now.getTime() / 1000) + this.options.historyDays * DAY_SECONDS;
  }

  async tableExists(): Promise<boolean> {
    try {
      await this.raw.send(new DescribeTableCommand({ TableName: this.options.table }));
      return true;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return false;
      throw error;
    }
  }

  /** Creates the table when missing and waits until it is ACTIVE; for the embedded store, which certwatch owns. */
  async ensureTable(): Promise<void> {
    if (!(await this.tableExists())) {
      await this.raw.send(new CreateTableCommand(tableDefinition(this.options.table)));
    }
    // A table still CREATING answers ResourceNotFound to reads and writes.
    await waitUntilTableExists(
      { client: this.raw, minDelay: 1, maxDelay: 2, maxWaitTime: 30 },
      { TableName: this.options.table },
    );
  }

  private async *query(input: Omit<QueryCommandInput, "TableName">): AsyncGenerator<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          ...input,
          TableName: this.options.table,
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      this.count(page.ConsumedCapacity, "read");
      yield* page.Items ?? [];
      start = page.LastEvaluatedKey;
    } while (start);
  }

  private async *queryPrefix(pk: string, prefix: string): AsyncGenerator<Record<string, unknown>> {
    yield* this.query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": pk, ":prefix": prefix },
    });
  }

  async loadObjects(source: string): Promise<Map<string, StoredObject>> {
    const objects = new Map<string, StoredObject>();
    for await (const item of this.queryPrefix(keys.source(source), keys.objectPrefix)) {
      const stored = item as unknown as StoredObject;
      objects.set(stored.observation.key, {
        observation: stored.observation,
        firstSeenAt: stored.firstSeenAt,
        changedAt: stored.changedAt,
        alerts: stored.alerts ?? {},
        resolved: stored.resolved ?? {},
        ...(stored.missingSince ? { missingSince: stored.missingSince } : {}),
      });
    }
    return objects;
  }

  /** Objects confirmed gone from a source, by key, kept until their TTL in case they come back. */
  async loadGone(source: string): Promise<Map<string, GoneObject>> {
    const gone = new Map<string, GoneObject>();
    for await (const item of this.queryPrefix(keys.source(source), keys.gonePrefix)) {
      const { key, firstSeenAt, goneAt, resolved } = item as unknown as GoneObject;
      gone.set(key, { key, firstSeenAt, goneAt, resolved: resolved ?? {} });
    }
    return gone;
  }

  /**
   * Writes what changed, moves what is gone from its object item to a gone item, and drops the gone item of what came
   * back: 25 items a request, retrying what DynamoDB left unprocessed. A gone item outlives every ledger entry of the
   * life it closes (those age out `historyDays` after they finish), so no returning object can reuse one's id.
   */
  async writeObjects(source: string, changes: ObjectChanges, now: Date): Promise<void> {
    const pk = keys.source(source);
    const goneExpiresAt = this.expiresAt(now) + this.options.historyDays * DAY_SECONDS;
    const requests = [
      ...changes.changed.map((object) => ({
        PutRequest: { Item: { pk, sk: keys.object(object.observation.key), ...object } },
      })),
      ...changes.gone.map((object) => ({
        PutRequest: { Item: { pk, sk: keys.gone(object.key), ...object, [TTL_ATTRIBUTE]: goneExpiresAt } },
      })),
      ...changes.gone.map((object) => ({ DeleteRequest: { Key: { pk, sk: keys.object(object.key) } } })),
      ...changes.returned.map((key) => ({ DeleteRequest: { Key: { pk, sk: keys.gone(key) } } })),
    ];
    for (let i = 0; i < requests.length; i += BATCH_SIZE) {
      let batch: typeof requests | undefined = requests.slice(i, i + BATCH_SIZE);
      for (let attempt = 0; batch && batch.length > 0; attempt++) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** attempt)));
        const result = await this.client.send(
          new BatchWriteCommand({
            RequestItems: { [this.options.table]: batch },
            ReturnConsumedCapacity: "TOTAL",
          }),
        );
        this.count(result.ConsumedCapacity, "write");
        batch = result.UnprocessedItems?.[this.options.table] as typeof requests | undefined;
        if (attempt > 8 && batch?.length) throw new Error(`DynamoDB left ${batch.length} writes unprocessed`);
      }
    }
  }

  /** Records an acknowledgement; it is kept (and then ages out) a week past its end. */
  async putAck(ack: Ack): Promise<void> {
    await this.write(
      new PutCommand({
        TableName: this.options.table,
        Item: {
          pk: keys.acks,
          sk: ack.fingerprint,
          ...ack,
          [TTL_ATTRIBUTE]: Math.floor(Date.parse(ack.until) / 1000) + 7 * DAY_SECONDS,
        },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /** Acknowledgements still in force at `now`, by fingerprint. */
  async acks(now: Date): Promise<Map<string, Ack>> {
    const acks = new Map<string, Ack>();
    for await (const item of this.queryPrefix(keys.acks, "")) {
      const ack = item as unknown as Ack;
      if (Date.parse(ack.until) > now.getTime()) acks.set(ack.fingerprint, ack);
    }
    return acks;
  }

  /** Every redeploy recorded for a source, open or past its window, until its TTL removes it. */
  async redeploys(source: string): Promise<RedeployRecord[]> {
    const records: RedeployRecord[] = [];
    for await (const item of this.query({
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
  private redeployItem(record: RedeployRecord) {
    return {
      pk: keys.source(record.source),
      sk: keys.redeploy(record.workerSet),
      ...record,
      [TTL_ATTRIBUTE]: Math.floor(Date.parse(record.until) / 1000) + this.options.historyDays * DAY_SECONDS,
    };
  }

  /**
   * Claims a worker set for a redeploy: succeeds only when no redeploy of it is recorded, or the recorded one's
   * window has closed. Exactly one of several concurrent claimers wins. `force` takes it regardless.
   */
  async claimRedeploy(record: RedeployRecord, now: Date, force = false): Promise<boolean> {
    return this.writeIf(
      new PutCommand({
        TableName: this.options.table,
        Item: this.redeployItem(record),
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
  async updateRedeploy(record: RedeployRecord, from: RedeployRecord["state"]): Promise<boolean> {
    return this.writeIf(
      new PutCommand({
        TableName: this.options.table,
        Item: this.redeployItem(record),
        ConditionExpression: "claimId = :claim AND #state = :from",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: { ":claim": record.claimId, ":from": from },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /** Gives a claim back (CAS refused a redeploy someone asked for by hand): they may fix the cause and try again. */
  async releaseRedeploy(record: RedeployRecord): Promise<void> {
    try {
      await this.write(
        new DeleteCommand({
          TableName: this.options.table,
          Key: { pk: keys.source(record.source), sk: keys.redeploy(record.workerSet) },
          ConditionExpression: "claimId = :claim",
          ExpressionAttributeValues: { ":claim": record.claimId },
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async getObject(source: string, objectKey: string): Promise<StoredObject | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.options.table,
        Key: { pk: keys.source(source), sk: keys.object(objectKey) },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    this.count(result.ConsumedCapacity, "read");
    return result.Item as StoredObject | undefined;
  }

  /**
   * The sweep record written last. Not the one with the latest key: a run whose clock was ahead would hide every
   * later record, and with it the failures that should add up to a "cannot see this source" alert.
   */
  async lastSweep(source: string): Promise<SweepRecord | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.options.table,
        Key: { pk: keys.source(source), sk: keys.lastSweep },
        ConsistentRead: true,
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    this.count(result.ConsumedCapacity, "read");
    return sweepRecordOf(result.Item) ?? this.latestKeyedSweep(source);
  }

  /** Stores written before the LAST item existed: their latest key is their last record. */
  private async latestKeyedSweep(source: string): Promise<SweepRecord | undefined> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.options.table,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": keys.source(source), ":prefix": keys.sweepPrefix },
        ScanIndexForward: false,
        Limit: 1,
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    this.count(page.ConsumedCapacity, "read");
    return sweepRecordOf(page.Items?.[0]);
  }

  /** Keeps the record in the source's history and as its last record. */
  async recordSweep(sweep: SweepRecord, now: Date): Promise<void> {
    const record = { ...sweep, error: this.redact(sweep.error) };
    const pk = keys.source(record.source);
    await this.write(
      new PutCommand({
        TableName: this.options.table,
        Item: {
          ...record,
          pk,
          sk: keys.sweep(record.at, record.runId),
          [TTL_ATTRIBUTE]: this.expiresAt(now),
        },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    await this.write(
      new PutCommand({
        TableName: this.options.table,
        Item: { ...record, pk, sk: keys.lastSweep },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /** Stores the source's whole inventory as gzip JSON, split into parts that fit DynamoDB's item size. */
  async writeSnapshot(source: string, at: string, observations: Observation[], now: Date): Promise<number> {
    const packed = await gzipAsync(JSON.stringify(observations));
    const parts = Math.max(1, Math.ceil(packed.length / SNAPSHOT_PART_BYTES));
    for (let part = 0; part < parts; part++) {
      await this.write(
        new PutCommand({
          TableName: this.options.table,
          Item: {
            pk: keys.source(source),
            sk: keys.snapshot(at, part),
            parts,
            data: packed.subarray(part * SNAPSHOT_PART_BYTES, (part + 1) * SNAPSHOT_PART_BYTES),
            [TTL_ATTRIBUTE]: this.expiresAt(now),
          },
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
    }
    return parts;
  }

  /** Every stored snapshot of a source, oldest first. */
  async *snapshots(source: string): AsyncGenerator<{ at: string; observations: Observation[] }> {
    type Parts = { at: string; expected: number; chunks: Uint8Array[] };
    let current: Parts | undefined;
    // A snapshot whose writer died part-way is skipped rather than breaking every read after it.
    const complete = (snapshot: Parts | undefined): snapshot is Parts =>
      snapshot !== undefined && snapshot.chunks.length === snapshot.expected;
    const unpack = async (snapshot: Parts) => ({
      at: snapshot.at,
      observations: JSON.parse(
        (await gunzipAsync(Buffer.concat(snapshot.chunks))).toString("utf8"),
      ) as Observation[],
    });
    for await (const item of this.queryPrefix(keys.source(source), keys.snapshotPrefix)) {
      const at = String(item.sk).slice(keys.snapshotPrefix.length, -4);
      if (current?.at !== at) {
        if (complete(current)) yield await unpack(current);
        current = { at, expected: Number(item.parts), chunks: [] };
      }
      current.chunks.push(item.data as Uint8Array);
    }
    if (complete(current)) yield await unpack(current);
  }

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
      createdAt: now.toISOString(),
      attempts: 0,
    };
    const recorded = await this.writeIf(
      new PutCommand({
        TableName: this.options.table,
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
    for await (const item of this.query({
      IndexName: PENDING_INDEX,
      KeyConditionExpression: "pendingFor = :receiver",
      ExpressionAttributeValues: { ":receiver": receiver },
    })) {
      entries.push({ ...(item as unknown as LedgerEntry), id: String(item.sk) });
    }
    return entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /**
   * How many ledger entries wait for each receiver, by whatever name they were recorded under: a Scan of the
   * sparse pending index, which holds only waiting entries. Unlike a query per configured name, it finds the
   * entries of a receiver the config no longer names.
   */
  async pendingCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.options.table,
          IndexName: PENDING_INDEX,
          ProjectionExpression: "pendingFor",
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      this.count(page.ConsumedCapacity, "read");
      for (const item of page.Items ?? []) {
        const receiver = String(item.pendingFor);
        counts.set(receiver, (counts.get(receiver) ?? 0) + 1);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return counts;
  }

  /** Deletes an entry this run claimed (one moved to another receiver); false when the claim is no longer ours. */
  forgetNotification(entry: LedgerEntry, runId: string): Promise<boolean> {
    return this.writeIf(
      new DeleteCommand({
        TableName: this.options.table,
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
    return this.writeIf(
      new UpdateCommand({
        TableName: this.options.table,
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
    await this.write(
      new UpdateCommand({
        TableName: this.options.table,
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
          ":error": this.redact(outcome.error) ?? null,
          ":run": runId,
          ...(done ? { ":now": now.toISOString(), ":ttl": this.expiresAt(now) } : {}),
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

  /** The embedded store has no TTL sweeper: delete expired history, finished ledger entries and old acks ourselves. */
  async purgeExpired(sources: string[], receivers: string[], now: Date): Promise<number> {
    const cutoff = Math.floor(now.getTime() / 1000);
    const partitions: [string, string][] = [
      ...sources.flatMap((source): [string, string][] => [
        [keys.source(source), keys.sweepPrefix],
        [keys.source(source), keys.snapshotPrefix],
        [keys.source(source), keys.redeployPrefix],
        [keys.source(source), keys.gonePrefix],
      ]),
      ...receivers.map((receiver): [string, string] => [keys.receiver(receiver), ""]),
      [keys.acks, ""],
    ];
    let purged = 0;
    for (const [pk, prefix] of partitions) {
      for await (const item of this.queryPrefix(pk, prefix)) {
        const expires = item[TTL_ATTRIBUTE];
        if (typeof expires !== "number" || expires >= cutoff) continue;
        await this.write(
          new DeleteCommand({
            TableName: this.options.table,
            Key: { pk: item.pk, sk: item.sk },
            ReturnConsumedCapacity: "TOTAL",
          }),
        );
        purged++;
      }
    }
    return purged;
  }

  close(): void {
    this.client.destroy();
    this.raw.destroy();
  }
}
