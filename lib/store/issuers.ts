import type { Observation } from "../model/types.js";
import type { TableClient, WriteRequest } from "./client.js";
import { keys } from "./table.js";

/** Certificates in force that a CA issued, by the CA's id (`details.issuer`): what fails with that CA. */
export function countByIssuer(observations: Iterable<Observation | undefined>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const observation of observations) {
    const issuer = observation?.details?.issuer;
    if (!issuer || observation.status !== "active") continue;
    counts.set(issuer, (counts.get(issuer) ?? 0) + 1);
  }
  return counts;
}

/**
 * How many certificates each CA issued, per source that holds them, so that a CA swept by another source (Alibaba's
 * private CAs beside their client certificates) can say how many depend on it without loading those sources. A
 * sweep writes only the counts that changed.
 */
export class Issuers {
  constructor(private readonly table: TableClient) {}

  async update(source: string, before: Map<string, number>, after: Map<string, number>): Promise<void> {
    const requests: WriteRequest[] = [];
    for (const issuer of new Set([...before.keys(), ...after.keys()])) {
      const count = after.get(issuer) ?? 0;
      if (count === (before.get(issuer) ?? 0)) continue;
      const key = { pk: keys.issuer(issuer), sk: source };
      requests.push(
        count === 0 ? { DeleteRequest: { Key: key } } : { PutRequest: { Item: { ...key, issuer, count } } },
      );
    }
    await this.table.writeAll(requests);
  }

  /**
   * Certificates in force issued by `issuer`, across every source that recorded some (but `exceptSource`); undefined
   * when none holds any (their sources may not be configured), which is not the same as none.
   */
  async dependents(issuer: string, exceptSource?: string): Promise<number | undefined> {
    let total: number | undefined;
    for await (const item of this.table.queryPrefix(keys.issuer(issuer), "")) {
      if (item.sk === exceptSource) continue;
      total = (total ?? 0) + (Number(item.count) || 0);
    }
    return total;
  }
}
