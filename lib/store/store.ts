import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { DeleteCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import {
  type Ack,
  type AlertState,
  type GoneObject,
  NO_STATE,
  type Observation,
  type StoredObject,
} from "../model/types.js";
import { PackedObjects } from "../model/packed-objects.js";
import { shared, sharedMarks, sharedObservation } from "../model/shared.js";
import { Checkpoints } from "./checkpoints.js";
import { DAY_SECONDS, type StoreOptions, type StoreUsage, TableClient } from "./client.js";
import { unpackJson } from "./gzip-json.js";
import { Hostnames } from "./hostnames.js";
import { Issuers } from "./issuers.js";
import { Ledger } from "./ledger.js";
import { NewsInbox } from "./news-inbox.js";
import { Members } from "./members.js";
import { Redeploys } from "./redeploys.js";
import { Runs } from "./runs.js";
import { keys, TTL_ATTRIBUTE } from "./table.js";

/** DynamoDB caps items at 400 KB; snapshot parts stay well under it. */
const SNAPSHOT_PART_BYTES = 300_000;
/** Object items whose write requests are made and held at once. */
const OBJECTS_AT_ONCE = 2_500;

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
  /** The version of the store's indexes this sweep kept up to date (lib/cross-source.ts INDEX_VERSION). */
  indexVersion?: number;
}

/** What a sweep writes to a source's objects: changed ones, those confirmed gone, and gone ones that came back. */
export interface ObjectChanges {
  changed: StoredObject[];
  gone: GoneObject[];
  returned: string[];
}

/**
 * Observations as they come back from DynamoDB (no `undefined` fields), so that fresh ones compare equal; what
 * repeats across objects is held once.
 */
export function storedShape(observation: Observation): Observation {
  return sharedObservation(JSON.parse(JSON.stringify(observation)) as Observation);
}

/**
 * Items as one gzip JSON array in parts of at most `partBytes`, made piece by piece: neither a 100,000-object
 * inventory nor its compressed form stands whole beside its parts.
 */
async function gzippedJsonParts(items: Iterable<unknown>, partBytes: number): Promise<Buffer[]> {
  function* pieces(): Generator<string> {
    let separator = "[";
    for (const item of items) {
      yield separator + JSON.stringify(item);
      separator = ",";
    }
    yield separator === "[" ? "[]" : "]";
  }
  const parts: Buffer[] = [];
  let filling: Buffer[] = [];
  let filled = 0;
  await pipeline(Readable.from(pieces()), createGzip(), async (packed: AsyncIterable<Buffer>) => {
    for await (const chunk of packed) {
      let rest = chunk;
      while (filled + rest.length >= partBytes) {
        const room = partBytes - filled;
        parts.push(Buffer.concat([...filling, rest.subarray(0, room)]));
        filling = [];
        filled = 0;
        rest = rest.subarray(room);
      }
      if (rest.length > 0) {
        filling.push(rest);
        filled += rest.length;
      }
    }
  });
  if (filled > 0) parts.push(Buffer.concat(filling));
  return parts;
}

function nonEmpty<T>(state: Record<string, T> | undefined): Record<string, T> {
  return state && Object.keys(state).length > 0 ? state : NO_STATE;
}

/** A sweep record without its item's keys and TTL, so that writing it again puts it where it is meant to go. */
function sweepRecordOf(item: Record<string, unknown> | undefined): SweepRecord | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...record } = item;
  return record as unknown as SweepRecord;
}

/**
 * All of certwatch's persistence: one DynamoDB table, whether real or embedded. The store itself keeps what the
 * sweeps know (objects, gone objects, sweep records, snapshots) and acknowledgements; the ledger, the news inbox,
 * redeploy claims and Lambda runs' progress have their own parts.
 */
export class Store {
  private readonly table: TableClient;
  readonly ledger: Ledger;
  readonly inbox: NewsInbox;
  readonly redeploys: Redeploys;
  readonly runs: Runs;
  readonly members: Members;
  readonly hostnames: Hostnames;
  readonly issuers: Issuers;
  readonly checkpoints: Checkpoints;

  constructor(options: StoreOptions) {
    this.table = new TableClient(options);
    this.ledger = new Ledger(this.table);
    this.inbox = new NewsInbox(this.table);
    this.redeploys = new Redeploys(this.table);
    this.runs = new Runs(this.table);
    this.members = new Members(this.table);
    this.hostnames = new Hostnames(this.table);
    this.issuers = new Issuers(this.table);
    this.checkpoints = new Checkpoints(this.table);
  }

  get usage(): StoreUsage {
    return this.table.usage;
  }

  get tableName(): string {
    return this.table.name;
  }

  tableExists(): Promise<boolean> {
    return this.table.tableExists();
  }

  checkAccess(): Promise<void> {
    return this.table.checkAccess();
  }

  ensureTable(): Promise<void> {
    return this.table.ensureTable();
  }

  async loadObjects(source: string): Promise<Map<string, StoredObject>> {
    const objects = new Map<string, StoredObject>();
    for await (const object of this.storedObjects(source)) objects.set(object.observation.key, object);
    return objects;
  }

  /** A source's objects as a sweep holds them: packed, each unpacked only where the sweep reads it. */
  async loadPackedObjects(source: string): Promise<PackedObjects> {
    const objects = new PackedObjects();
    for await (const object of this.storedObjects(source)) objects.pack(object);
    return objects;
  }

  private async *storedObjects(source: string): AsyncGenerator<StoredObject> {
    for await (const item of this.table.queryPrefix(keys.source(source), keys.objectPrefix)) {
      const stored = item as unknown as StoredObject;
      yield {
        observation: sharedObservation(stored.observation),
        firstSeenAt: shared(stored.firstSeenAt),
        changedAt: shared(stored.changedAt),
        alerts: sharedMarks(nonEmpty(stored.alerts)),
        resolved: nonEmpty(stored.resolved),
        ...(stored.missingSince ? { missingSince: shared(stored.missingSince) } : {}),
      };
    }
  }

  /** Objects confirmed gone from a source, by key, kept until their TTL in case they come back. */
  async loadGone(source: string): Promise<Map<string, GoneObject>> {
    const gone = new Map<string, GoneObject>();
    for await (const item of this.table.queryPrefix(keys.source(source), keys.gonePrefix)) {
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
    const goneExpiresAt = this.table.expiresAt(now) + this.table.historyDays * DAY_SECONDS;
    // A slice at a time: the requests for a first sweep's 26,000 judged objects are not all held at once.
    for (let start = 0; start < changes.changed.length; start += OBJECTS_AT_ONCE) {
      await this.table.writeAll(
        changes.changed.slice(start, start + OBJECTS_AT_ONCE).map((object) => ({
          PutRequest: { Item: { pk, sk: keys.object(object.observation.key), ...object } },
        })),
      );
    }
    // Only once every gone item is written is an object item deleted: a failure between loses no history.
    await this.table.writeAll(
      changes.gone.map((object) => ({
        PutRequest: { Item: { pk, sk: keys.gone(object.key), ...object, [TTL_ATTRIBUTE]: goneExpiresAt } },
      })),
    );
    await this.table.writeAll([
      ...changes.gone.map((object) => ({ DeleteRequest: { Key: { pk, sk: keys.object(object.key) } } })),
      ...changes.returned.map((key) => ({ DeleteRequest: { Key: { pk, sk: keys.gone(key) } } })),
    ]);
  }

  /** Records an acknowledgement; it is kept (and then ages out) a week past its end. */
  async putAck(ack: Ack): Promise<void> {
    await this.table.write(
      new PutCommand({
        TableName: this.table.name,
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
    for await (const item of this.table.queryPrefix(keys.acks, "")) {
      const ack = item as unknown as Ack;
      if (Date.parse(ack.until) > now.getTime()) acks.set(ack.fingerprint, ack);
    }
    return acks;
  }

  /**
   * When the silence `id` began: the instant recorded by the first run that saw it, which records `now` (unless
   * `record` is false, as in a dry run, which only reads). Kept without a TTL: a silence still in the config whose
   * start aged out would begin again.
   */
  async silenceStart(id: string, now: Date, record: boolean): Promise<string> {
    const key = { pk: keys.silences, sk: id };
    const known = await this.table.get(key, true);
    if (known) return String(known.startedAt);
    if (!record) return now.toISOString();
    const startedAt = now.toISOString();
    const recorded = await this.table.writeIf(
      new PutCommand({
        TableName: this.table.name,
        Item: { ...key, startedAt },
        ConditionExpression: "attribute_not_exists(pk)",
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    // Another run recorded it first: its instant stands.
    return recorded ? startedAt : String((await this.table.get(key, true))?.startedAt ?? startedAt);
  }

  async getObject(source: string, objectKey: string): Promise<StoredObject | undefined> {
    return (await this.table.get({ pk: keys.source(source), sk: keys.object(objectKey) })) as
      StoredObject | undefined;
  }

  /**
   * The sweep record written last. Not the one with the latest key: a run whose clock was ahead would hide every
   * later record, and with it the failures that should add up to a "cannot see this source" alert.
   */
  async lastSweep(source: string): Promise<SweepRecord | undefined> {
    const last = await this.table.get({ pk: keys.source(source), sk: keys.lastSweep }, true);
    return sweepRecordOf(last) ?? this.latestKeyedSweep(source);
  }

  /** Stores written before the LAST item existed: their latest key is their last record. */
  private async latestKeyedSweep(source: string): Promise<SweepRecord | undefined> {
    for await (const item of this.table.query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": keys.source(source), ":prefix": keys.sweepPrefix },
      ScanIndexForward: false,
      Limit: 1,
    })) {
      return sweepRecordOf(item);
    }
    return undefined;
  }

  /** Keeps the record in the source's history and as its last record. */
  async recordSweep(sweep: SweepRecord, now: Date): Promise<void> {
    const record = { ...sweep, error: this.table.redact(sweep.error) };
    const pk = keys.source(record.source);
    await this.table.write(
      new PutCommand({
        TableName: this.table.name,
        Item: {
          ...record,
          pk,
          sk: keys.sweep(record.at, record.runId),
          [TTL_ATTRIBUTE]: this.table.expiresAt(now),
        },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    await this.table.write(
      new PutCommand({
        TableName: this.table.name,
        Item: { ...record, pk, sk: keys.lastSweep },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /**
   * Saves alert marks on the source's last record, unless a sweep wrote a newer one meanwhile (its own marks, from
   * its own evaluation, then stand). False when it did not.
   */
  updateLastSweep(record: SweepRecord): Promise<boolean> {
    return this.table.writeIf(
      new PutCommand({
        TableName: this.table.name,
        Item: { ...record, pk: keys.source(record.source), sk: keys.lastSweep },
        ConditionExpression: "runId = :run",
        ExpressionAttributeValues: { ":run": record.runId },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  /** Stores the source's whole inventory as gzip JSON, split into parts that fit DynamoDB's item size. */
  async writeSnapshot(
    source: string,
    at: string,
    observations: Iterable<Observation>,
    now: Date,
  ): Promise<number> {
    const packed = await gzippedJsonParts(observations, SNAPSHOT_PART_BYTES);
    for (const [part, data] of packed.entries()) {
      await this.table.write(
        new PutCommand({
          TableName: this.table.name,
          Item: {
            pk: keys.source(source),
            sk: keys.snapshot(at, part),
            parts: packed.length,
            data,
            [TTL_ATTRIBUTE]: this.table.expiresAt(now),
          },
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
    }
    return packed.length;
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
      observations: await unpackJson<Observation[]>(snapshot.chunks),
    });
    for await (const item of this.table.queryPrefix(keys.source(source), keys.snapshotPrefix)) {
      const at = String(item.sk).slice(keys.snapshotPrefix.length, -4);
      if (current?.at !== at) {
        if (complete(current)) yield await unpack(current);
        current = { at, expected: Number(item.parts), chunks: [] };
      }
      current.chunks.push(item.data as Uint8Array);
    }
    if (complete(current)) yield await unpack(current);
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
        // The head and chunks of a sweep in parts that was never finished.
        [keys.source(source), keys.checkpoint],
      ]),
      ...receivers.map((receiver): [string, string] => [keys.receiver(receiver), ""]),
      [keys.acks, ""],
    ];
    let purged = 0;
    for (const [pk, prefix] of partitions) {
      for await (const item of this.table.queryPrefix(pk, prefix)) {
        const expires = item[TTL_ATTRIBUTE];
        if (typeof expires !== "number" || expires >= cutoff) continue;
        await this.table.write(
          new DeleteCommand({
            TableName: this.table.name,
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
    this.table.close();
  }
}
