import { isDeepStrictEqual } from "node:util";
import { type GoneObject, NO_STATE, type Observation, type StoredObject } from "./model/types.js";

/**
 * How far a listing can be trusted. `complete`: it is the whole inventory, so what it lacks is missing. `partial`:
 * what it shows is true, but what it lacks may only have been stepped over (it changed while paged, or shrank
 * suspiciously). `failed`: it is not used at all.
 */
export type Listing = "complete" | "partial" | "failed";

export interface DiffInput {
  /** The source's live objects as stored, missing ones included. */
  stored: ReadonlyMap<string, StoredObject>;
  /** Objects confirmed gone earlier, kept so that one coming back continues its own history. */
  goneBefore: ReadonlyMap<string, GoneObject>;
  /** What this sweep saw (listed, or found by a direct look-up), by key. */
  seen: ReadonlyMap<string, Observation>;
  listing: Listing;
  /** Missing objects a direct look-up said are gone. */
  confirmedGone: ReadonlySet<string>;
  /** The run's instant, ISO. */
  at: string;
}

export interface Diff {
  /** The live objects after this sweep, missing ones included. */
  current: Map<string, StoredObject>;
  /** Keys of `current` whose item must be written. */
  changedKeys: Set<string>;
  added: number;
  changed: number;
  /** Gone objects seen again: their gone item is dropped. */
  returned: string[];
  /** Objects confirmed gone in this sweep, as last stored. */
  gone: StoredObject[];
  /** Objects a complete listing lacked that are not confirmed gone yet. */
  missing: number;
}

/**
 * Compares what a sweep saw with what was stored. An object a complete listing lacks is first only missing: it is
 * gone once a direct look-up says so, or a later complete listing lacks it too. An object seen again stops being
 * missing without a word, and a gone one that comes back takes up its resolution counts again.
 */
export function diffInventory(input: DiffInput): Diff {
  const { stored, seen, at } = input;
  const diff: Diff = {
    current: new Map(stored),
    changedKeys: new Set(),
    added: 0,
    changed: 0,
    returned: [],
    gone: [],
    missing: 0,
  };
  if (input.listing === "failed") {
    diff.missing = [...stored.values()].filter((object) => object.missingSince).length;
    return diff;
  }
  for (const [key, observation] of seen) {
    const before = stored.get(key);
    if (!before) {
      const earlierLife = input.goneBefore.get(key);
      if (earlierLife) diff.returned.push(key);
      diff.added++;
      diff.current.set(key, {
        observation,
        firstSeenAt: earlierLife?.firstSeenAt ?? at,
        changedAt: at,
        alerts: NO_STATE,
        resolved: earlierLife?.resolved ?? NO_STATE,
      });
      diff.changedKeys.add(key);
      continue;
    }
    const observationChanged = !isDeepStrictEqual(before.observation, observation);
    if (!observationChanged && !before.missingSince) continue;
    if (observationChanged) diff.changed++;
    const { missingSince: _found, ...present } = before;
    diff.current.set(key, { ...present, observation, changedAt: observationChanged ? at : before.changedAt });
    diff.changedKeys.add(key);
  }
  for (const [key, object] of stored) {
    if (seen.has(key)) continue;
    if (input.listing === "complete" && (object.missingSince || input.confirmedGone.has(key))) {
      diff.gone.push(object);
      diff.current.delete(key);
    } else if (input.listing === "complete") {
      diff.current.set(key, { ...object, missingSince: at });
      diff.changedKeys.add(key);
      diff.missing++;
    } else if (object.missingSince) {
      diff.missing++;
    }
  }
  return diff;
}
