import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";

/**
 * Single-table layout. Every item has `pk`/`sk`; history items carry `expiresAt` (epoch seconds) for TTL.
 *
 * | pk              | sk                         | what                                                      |
 * |-----------------|----------------------------|-----------------------------------------------------------|
 * | SRC#<source>    | OBJ#<object key>           | current state of one object, and the alert stages it has had |
 * | SRC#<source>    | GONE#<object key>          | an object confirmed gone: its resolution counts, for when it comes back (TTL) |
 * | SRC#<source>    | SWEEP#<iso time>#<run id>  | one record per sweep of the source (history, TTL)         |
 * | SRC#<source>    | LAST                       | the sweep record written last, and the latest run recorded |
 * | SRC#<source>    | SNAP#<iso time>#<part>     | gzip snapshot of the source's objects when they changed (history, TTL) |
 * | SRC#<source>    | REDEPLOY#<worker set hash> | a redeploy job created for a set of failed workers (TTL)  |
 * | SRC#<source>    | CHECKPOINT                 | a sweep in parts, between two of them: its place, counts, chunk layout (TTL) |
 * | SRC#<source>    | CHECKPOINT#<run id>#<part>#<save id>#<chunk> | gzip keys and warnings one part added (TTL) |
 * | NEWS            | <iso time>#<put id>#<n>    | a sweep's news, gzip batches of notifications, until delivery records them in the ledger |
 * | DLV#<receiver>  | <notification id>          | delivery ledger: pending → sending → sent / failed        |
 * | ACK             | <alert fingerprint>        | an acknowledgement: who, when, why, until (TTL)           |
 * | SILENCE         | <hash of match, span, reason> | when a config silence given as a span (`3d`) began  |
 * | RUN#<run id>    | RUN                        | a Lambda run: sources dispatched, deadline, swept (TTL)   |
 * | ORG#<source>    | <account id>               | a member of an organization, as its discoveries found it  |
 * | HOST#<hostname> | <object key>               | an inventory certificate covering that name (exact or `*.`) |
 * | HOSTNAMES#<0-f> | <hostname>                 | a name some inventory certificate covers (16 shards)      |
 * | ISSUER#<ca id>  | <source>                   | how many certificates in force of that source the CA issued |
 *
 * The `pending` index is sparse: only ledger items waiting to be sent carry `pendingFor`.
 */
export const PENDING_INDEX = "pending";
export const TTL_ATTRIBUTE = "expiresAt";

export const keys = {
  source: (source: string) => `SRC#${source}`,
  object: (objectKey: string) => `OBJ#${objectKey}`,
  objectPrefix: "OBJ#",
  gone: (objectKey: string) => `GONE#${objectKey}`,
  gonePrefix: "GONE#",
  lastSweep: "LAST",
  sweep: (at: string, runId: string) => `SWEEP#${at}#${runId}`,
  sweepPrefix: "SWEEP#",
  snapshot: (at: string, part: number) => `SNAP#${at}#${String(part).padStart(3, "0")}`,
  snapshotPrefix: "SNAP#",
  redeploy: (workerSetHash: string) => `REDEPLOY#${workerSetHash}`,
  redeployPrefix: "REDEPLOY#",
  checkpoint: "CHECKPOINT",
  checkpointChunk: (runId: string, part: number, save: string, chunk: number) =>
    `CHECKPOINT#${runId}#${String(part).padStart(4, "0")}#${save}#${String(chunk).padStart(3, "0")}`,
  checkpointChunksOf: (runId: string) => `CHECKPOINT#${runId}#`,
  checkpointChunkPrefix: "CHECKPOINT#",
  newsInbox: "NEWS",
  newsBatch: (at: string, put: string, index: number) => `${at}#${put}#${String(index).padStart(4, "0")}`,
  receiver: (receiver: string) => `DLV#${receiver}`,
  acks: "ACK",
  silences: "SILENCE",
  run: (runId: string) => `RUN#${runId}`,
  runProgress: "RUN",
  organization: (source: string) => `ORG#${source}`,
  hostname: (hostname: string) => `HOST#${hostname}`,
  hostnames: (shard: string) => `HOSTNAMES#${shard}`,
  issuer: (issuer: string) => `ISSUER#${issuer}`,
};

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" },
      { AttributeName: "sk", AttributeType: "S" },
      { AttributeName: "pendingFor", AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: PENDING_INDEX,
        KeySchema: [
          { AttributeName: "pendingFor", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "ALL" },
      },
    ],
  };
}
