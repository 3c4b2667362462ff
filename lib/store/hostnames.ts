import { createHash } from "node:crypto";
import type { Observation } from "../model/types.js";
import { mapInOrder } from "../sources/concurrency.js";
import { normalHost } from "../sources/pem-facts.js";
import type { TableClient, WriteRequest } from "./client.js";
import { keys } from "./table.js";

/**
 * An inventory certificate, or a deployment of one onto a resource, as the hostname index holds it: enough to compare
 * with what an endpoint serves, and to say where the certificate was deployed.
 */
export interface IndexedObject {
  /** The name it covers as listed: `www.example.com` or `*.example.com`. */
  hostname: string;
  kind: "certificate" | "deployment-task";
  key: string;
  source: string;
  nativeId: string;
  name: string;
  status: Observation["status"];
  notAfter?: string;
  /** A deployment's job and resource. */
  jobId?: string;
  resource?: string;
  provider?: Observation["labels"]["provider"];
}

/** One change of an object, as a sweep wrote it: absent before when new, absent after when gone. */
export interface ObjectChange {
  before?: Observation;
  after?: Observation;
}

/** Index writes held before they are sent: enough for full batches, few enough to keep memory flat. */
const WRITES_AT_ONCE = 2_500;

/** List checks in flight at once when names leave the index. */
const LOOKUPS_AT_ONCE = 16;

/** The list of names is spread over this many partitions, so that a first sweep of many names is not throttled. */
const HOSTNAME_SHARDS = 16;

/** The list-of-names item for `hostname`, in its shard. */
function listed(hostname: string): { pk: string; sk: string } {
  const shard = (createHash("sha256").update(hostname).digest()[0] ?? 0) % HOSTNAME_SHARDS;
  return { pk: keys.hostnames(shard.toString(16)), sk: hostname };
}

/**
 * Inventory certificates, which endpoints serve, and deployment tasks, which put them there; client certificates and
 * CAs serve no hostname.
 */
function indexed(
  observation: Observation | undefined,
): observation is Observation & { kind: IndexedObject["kind"] } {
  return observation?.kind === "certificate" || observation?.kind === "deployment-task";
}

function namesOf(observation: Observation | undefined): Set<string> {
  return new Set(indexed(observation) ? observation.domains.map(normalHost) : []);
}

/** What the index keeps of a certificate; an entry is rewritten only when this changes. */
function entryOf(
  observation: Observation & { kind: IndexedObject["kind"] },
): Omit<IndexedObject, "hostname"> {
  const { jobId, resource } = observation.details ?? {};
  return {
    kind: observation.kind,
    provider: observation.labels.provider,
    ...(jobId ? { jobId } : {}),
    ...(resource ? { resource } : {}),
    key: observation.key,
    source: observation.labels.source,
    nativeId: observation.nativeId,
    name: observation.name,
    status: observation.status,
    ...(observation.notAfter ? { notAfter: observation.notAfter } : {}),
  };
}

/**
 * The inventories' certificates by the hostnames they cover (exact names and wildcards), kept as sweeps write their
 * objects, so that what an endpoint serves is compared with the inventory through a look-up per hostname, never by
 * loading every source. One item per certificate and name; a quiet sweep writes none.
 */
export class Hostnames {
  constructor(private readonly table: TableClient) {}

  async update(changes: Iterable<ObjectChange>): Promise<void> {
    let requests: WriteRequest[] = [];
    const dropped = new Set<string>();
    const flush = async () => {
      await this.table.writeAll(requests);
      requests = [];
    };
    for (const { before, after } of changes) {
      if (!indexed(before) && !indexed(after)) continue;
      const key = (after ?? before)?.key ?? "";
      const had = namesOf(before);
      const kept = namesOf(after);
      for (const hostname of had) {
        if (!kept.has(hostname)) {
          requests.push({ DeleteRequest: { Key: { pk: keys.hostname(hostname), sk: key } } });
          dropped.add(hostname);
        }
      }
      if (indexed(after)) {
        const entry = entryOf(after);
        const same = indexed(before) && JSON.stringify(entryOf(before)) === JSON.stringify(entry);
        for (const hostname of kept) {
          if (same && had.has(hostname)) continue;
          requests.push({
            PutRequest: { Item: { pk: keys.hostname(hostname), sk: key, hostname, ...entry } },
          });
          // A name this object did not cover before may be new to the list; one it covered is listed already.
          if (!had.has(hostname)) requests.push({ PutRequest: { Item: listed(hostname) } });
        }
      }
      // Written as it goes: a first sweep of 100,000 certificates does not hold 300,000 requests at once.
      if (requests.length >= WRITES_AT_ONCE) await flush();
    }
    await flush();
    // A name no object covers any more leaves the list of names, once its last entry is gone.
    const unlisted: WriteRequest[] = [];
    const checks = mapInOrder(dropped, LOOKUPS_AT_ONCE, async (hostname) => {
      const remaining = this.table.query({
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": keys.hostname(hostname) },
        Limit: 1,
      });
      const empty = (await remaining.next()).done === true;
      await remaining.return(undefined);
      return empty ? hostname : undefined;
    });
    for await (const hostname of checks) {
      if (!hostname) continue;
      const { pk, sk } = listed(hostname);
      unlisted.push({ DeleteRequest: { Key: { pk, sk } } });
    }
    await this.table.writeAll(unlisted);
  }

  /** Every name some inventory certificate covers, wildcards included, for a source that probes them all. */
  async *all(): AsyncGenerator<string> {
    for (let shard = 0; shard < HOSTNAME_SHARDS; shard++) {
      for await (const item of this.table.queryPrefix(keys.hostnames(shard.toString(16)), "")) {
        yield String(item.sk);
      }
    }
  }

  /**
   * The objects covering `hostname`: listed for it exactly, or by the wildcard one label above it. `wildcards` keeps
   * the wildcard answers of one evaluation: every name under one wildcard asks for the same one.
   */
  async covering(
    hostname: string,
    wildcards?: Map<string, Promise<IndexedObject[]>>,
  ): Promise<IndexedObject[]> {
    const name = normalHost(hostname);
    const dot = name.indexOf(".");
    const wildcard = dot > 0 && name.indexOf(".", dot + 1) > 0 ? `*${name.slice(dot)}` : undefined;
    let above: Promise<IndexedObject[]> = Promise.resolve([]);
    if (wildcard) {
      above = wildcards?.get(wildcard) ?? this.entriesFor(wildcard);
      wildcards?.set(wildcard, above);
    }
    const [exact, byWildcard] = await Promise.all([this.entriesFor(name), above]);
    return [...exact, ...byWildcard];
  }

  private async entriesFor(name: string): Promise<IndexedObject[]> {
    const found: IndexedObject[] = [];
    for await (const item of this.table.queryPrefix(keys.hostname(name), "")) {
      const { pk: _pk, sk: _sk, ...entry } = item;
      found.push(entry as unknown as IndexedObject);
    }
    return found;
  }
}
