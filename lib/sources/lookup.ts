import type { SourceConfig } from "../config/schema.js";
import type { Observation } from "../model/types.js";
import type { CollectContext, SourceDriver } from "./types.js";

/**
 * Look-ups one sweep makes at most. A mass deletion is confirmed by the next complete listing instead of by a call
 * per object at the vendor's rate.
 */
export const MAX_LOOK_UPS = 25;

export interface LookedUp {
  /** Missing objects the API still has, as it answers for them now. */
  found: Observation[];
  /** Keys of missing objects the API says are gone. */
  gone: Set<string>;
}

/**
 * Asks the API about objects a complete listing lacked, where it can tell; a look-up that fails decides nothing.
 * Those whose end is closest to now go first (an expiry about to page someone, not one three years past), and none
 * starts after `until` (epoch ms): what is left stays missing for the next listing to settle.
 */
export async function lookUpMissing(
  driver: SourceDriver,
  source: SourceConfig,
  context: CollectContext,
  missing: Observation[],
  until: number,
): Promise<LookedUp> {
  const result: LookedUp = { found: [], gone: new Set() };
  if (!driver.lookUp) return result;
  const now = Date.now();
  const distance = (observation: Observation) =>
    observation.notAfter ? Math.abs(Date.parse(observation.notAfter) - now) : Number.POSITIVE_INFINITY;
  const closestFirst = [...missing].sort((a, b) => distance(a) - distance(b)).slice(0, MAX_LOOK_UPS);
  for (const [index, observation] of closestFirst.entries()) {
    if (Date.now() >= until || context.signal?.aborted) {
      context.warn(
        `${closestFirst.length - index} look-ups of objects missing from the listing were left for the next sweep: the source's timeBudget ran out`,
      );
      break;
    }
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
