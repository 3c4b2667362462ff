import type { SourceConfig } from "../config/schema.js";
import type { Observation } from "../model/types.js";
import type { CollectContext, SourceDriver } from "./types.js";

/**
 * Look-ups one sweep makes at most. A mass deletion is confirmed by the next complete listing instead of by a call
 * per object at the vendor's rate; the ones looked up are those a reader would miss most, the soonest to expire.
 */
export const MAX_LOOK_UPS = 25;

export interface LookedUp {
  /** Missing objects the API still has, as it answers for them now. */
  found: Observation[];
  /** Keys of missing objects the API says are gone. */
  gone: Set<string>;
}

/** Asks the API about objects a complete listing lacked, where it can tell; a look-up that fails decides nothing. */
export async function lookUpMissing(
  driver: SourceDriver,
  source: SourceConfig,
  context: CollectContext,
  missing: Observation[],
): Promise<LookedUp> {
  const result: LookedUp = { found: [], gone: new Set() };
  if (!driver.lookUp) return result;
  const soonestFirst = [...missing].sort((a, b) =>
    (a.notAfter ?? "\uffff").localeCompare(b.notAfter ?? "\uffff"),
  );
  for (const observation of soonestFirst.slice(0, MAX_LOOK_UPS)) {
    try {
      const answer = await driver.lookUp(source, context, observation);
      if (answer === "gone") result.gone.add(observation.key);
      else if (answer.key === observation.key) result.found.push(answer);
    } catch (error) {
      context.warn(
        `${observation.name} (${observation.nativeId}) was not in the listing and could not be looked up: ${(error as Error).message}; it stays missing until a later listing settles it`,
      );
    }
  }
  return result;
}
