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
  type ScanCommandInput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { isLoopback } from "../config/schema.js";
import { mapInOrder } from "../sources/concurrency.js";
import { tableDefinition } from "./table.js";

const BATCH_SIZE = 25;
/** Requests one table client has in flight at most (`inSlot`), and the SDK's sockets to match. */
const SOCKETS = 256;
/** BatchWriteItem requests in flight at once: DynamoDB answers each in milliseconds, so serial writes wait mostly. */
const BATCHES_AT_ONCE = 8;
export const DAY_SECONDS = 86_400;

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

export type WriteRequest =
  { PutRequest: { Item: Record<string, unknown> } } | { DeleteRequest: { Key: Record<string, unknown> } };

/** The last request for each item, in the order items were first asked for. */
function lastPerItem(requests: WriteRequest[]): WriteRequest[] {
  const byItem = new Map<string, WriteRequest>();
  for (const request of requests) {
    const { pk, sk } = "PutRequest" in request ? request.PutRequest.Item : request.DeleteRequest.Key;
    byItem.set(`${String(pk)}\u0000${String(sk)}`, request);
  }
  return [...byItem.values()];
}

function* batchesOf(requests: WriteRequest[]): Generator<WriteRequest[]> {
  for (let i = 0; i < requests.length; i += BATCH_SIZE) yield requests.slice(i, i + BATCH_SIZE);
}

function isConditionFailure(error: unknown): boolean {
  return (error as Error).name === "ConditionalCheckFailedException";
}

/**
 * The one DynamoDB table, real or embedded, as every part of the store uses it: each read and write counted in
 * capacity units, conditional writes that answer false instead of throwing, queries that page by themselves.
 */
export class TableClient {
  readonly usage: StoreUsage = { readUnits: 0, writeUnits: 0 };
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly client: DynamoDBDocumentClient;
  private readonly raw: DynamoDBClient;

  constructor(private readonly options: StoreOptions) {
    const local = options.endpoint !== undefined && isLoopback(new URL(options.endpoint).hostname);
    this.raw = new DynamoDBClient({
      // A real table's region, when the store names none, is the SDK's to find: AWS_REGION, then the profile's.
      region: options.region ?? (local ? (process.env.AWS_REGION ?? "local") : undefined),
      endpoint: options.endpoint,
      // dynalite accepts any credentials; a real endpoint uses the default provider chain.
      ...(local ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } } : {}),
      // As many sockets as requests may be in flight (inSlot): the SDK's default is 50.
      requestHandler: { httpAgent: { maxSockets: SOCKETS }, httpsAgent: { maxSockets: SOCKETS } },
    });
    this.client = DynamoDBDocumentClient.from(this.raw, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }

  /**
   * Runs one request when fewer than SOCKETS are in flight: an organization's CLI run sweeps every member at once,
   * each writing several batches, and past its sockets the SDK queues and warns on the operator's terminal.
   */
  private async inSlot<T>(request: () => Promise<T>): Promise<T> {
    while (this.inFlight >= SOCKETS) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      return await request();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  get name(): string {
    return this.options.table;
  }

  /** Fails before any call, saying what to set, when the SDK finds no region or no credentials for the table. */
  async checkAccess(): Promise<void> {
    const where = `DynamoDB table ${this.options.table}`;
    if ((await this.raw.config.region().catch(() => undefined)) === undefined)
      throw new Error(`${where}: no AWS region; set store.region in the config, or AWS_REGION`);
    await this.raw.config.credentials().catch((error: Error) => {
      throw new Error(
        `${where}: no AWS credentials found (${error.name}); set AWS_PROFILE (or AWS_ACCESS_KEY_ID and ` +
          "AWS_SECRET_ACCESS_KEY), or run `aws sso login`",
        { cause: error },
      );
    });
  }

  get historyDays(): number {
    return this.options.historyDays;
  }

  redact(text: string | undefined): string | undefined {
    return text === undefined || !this.options.redact ? text : this.options.redact(text);
  }

  private count(capacity: ConsumedCapacity | ConsumedCapacity[] | undefined, kind: "read" | "write"): void {
    const list = Array.isArray(capacity) ? capacity : capacity ? [capacity] : [];
    const units = list.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
    if (kind === "read") this.usage.readUnits += units;
    else this.usage.writeUnits += units;
  }

  /** Every single-item write goes through here, so that consumed capacity is always counted. */
  async write(command: PutCommand | UpdateCommand | DeleteCommand): Promise<void> {
    // The SDK's send() is typed per command and accepts no union; all three answer with ConsumedCapacity.
    const result = await this.inSlot(() => this.client.send(command as PutCommand));
    this.count(result.ConsumedCapacity, "write");
  }

  /** A conditional write: false when its condition did not hold, which is an answer, not an error. */
  async writeIf(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      await this.write(command);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * A conditional update that answers with the attributes it was asked to return (`ReturnValues`), or undefined
   * when its condition did not hold.
   */
  async updateIf(command: UpdateCommand): Promise<Record<string, unknown> | undefined> {
    try {
      const result = await this.inSlot(() => this.client.send(command));
      this.count(result.ConsumedCapacity, "write");
      return result.Attributes ?? {};
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /**
   * Writes 25 items a request, several requests at once, retrying what DynamoDB left unprocessed. Of several
   * requests for one item only the last is sent, as it would have won had they gone one after another. After a
   * failed request no other begins, and the failure is thrown once those in flight are done, as serially: a caller
   * that orders its writes (what replaces an item before what deletes it) can rely on nothing later being written.
   */
  async writeAll(requests: WriteRequest[]): Promise<void> {
    let failure: { error: unknown } | undefined;
    const write = async (batch: WriteRequest[]) => {
      if (failure) return;
      await this.writeBatch(batch).catch((error: unknown) => {
        failure ??= { error };
      });
    };
    for await (const _ of mapInOrder(batchesOf(lastPerItem(requests)), BATCHES_AT_ONCE, write)) {
      // Each batch is written when its promise settles.
    }
    if (failure) throw failure.error;
  }

  private async writeBatch(requests: WriteRequest[]): Promise<void> {
    let batch: WriteRequest[] | undefined = requests;
    for (let attempt = 0; batch && batch.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** attempt)));
      const command = new BatchWriteCommand({
        RequestItems: { [this.options.table]: batch },
        ReturnConsumedCapacity: "TOTAL",
      });
      const result = await this.inSlot(() => this.client.send(command));
      this.count(result.ConsumedCapacity, "write");
      batch = result.UnprocessedItems?.[this.options.table] as WriteRequest[] | undefined;
      if (attempt > 8 && batch?.length) throw new Error(`DynamoDB left ${batch.length} writes unprocessed`);
    }
  }

  async get(
    key: { pk: string; sk: string },
    consistent = false,
  ): Promise<Record<string, unknown> | undefined> {
    const command = new GetCommand({
      TableName: this.options.table,
      Key: key,
      ConsistentRead: consistent,
      ReturnConsumedCapacity: "TOTAL",
    });
    const result = await this.inSlot(() => this.client.send(command));
    this.count(result.ConsumedCapacity, "read");
    return result.Item;
  }

  /** History ages out `historyDays` after `now` (epoch seconds, for the TTL attribute). */
  expiresAt(now: Date): number {
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

  /** Every item of a Query or Scan, page after page, each page's read capacity counted. */
  private async *paged(
    command: (start: Record<string, unknown> | undefined) => QueryCommand | ScanCommand,
  ): AsyncGenerator<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    do {
      // As with writes: send() is typed per command; both answer with Items, LastEvaluatedKey and capacity.
      const page = await this.inSlot(() => this.client.send(command(start) as QueryCommand));
      this.count(page.ConsumedCapacity, "read");
      yield* page.Items ?? [];
      start = page.LastEvaluatedKey;
    } while (start);
  }

  query(input: Omit<QueryCommandInput, "TableName">): AsyncGenerator<Record<string, unknown>> {
    const table = { TableName: this.options.table, ReturnConsumedCapacity: "TOTAL" } as const;
    return this.paged((start) => new QueryCommand({ ...input, ...table, ExclusiveStartKey: start }));
  }

  async *queryPrefix(pk: string, prefix: string): AsyncGenerator<Record<string, unknown>> {
    yield* this.query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": pk, ":prefix": prefix },
    });
  }

  scan(input: Omit<ScanCommandInput, "TableName">): AsyncGenerator<Record<string, unknown>> {
    const table = { TableName: this.options.table, ReturnConsumedCapacity: "TOTAL" } as const;
    return this.paged((start) => new ScanCommand({ ...input, ...table, ExclusiveStartKey: start }));
  }

  close(): void {
    this.client.destroy();
    this.raw.destroy();
  }
}
