import { isDeepStrictEqual } from "node:util";
import type { PackedObjects } from "./model/packed-objects.js";
import {
  type GoneObject,
  NO_STATE,
  type ObjectKind,
  type Observation,
  type StoredObject,
} from "./model/types.js";

/**
 * How far a listing can be trusted. `complete`: it is the whole inventory, so what it lacks is missing. `partial`:
 * what it shows is true, but what it lacks may only have been stepped over (it changed while paged, or shrank
 * suspiciously). `failed`: it is not used at all.
 */
export type Listing = "complete" | "partial" | "failed";

/**
 * What a sweep saw. An observation the same as the stored one is only a mark on it (a steady sweep holds its
 * inventory once, packed); a new one, or one that differs, is held whole.
 */
export class Seen {
  /** New observations, and those that differ from what is stored, by key. */
  readonly fresh = new Map<string, Observation>();
  /** Stored objects marked seen as they were. */
  private same = 0;

  constructor(private readonly stored: PackedObjects) {}

  /** An observation (as `storedShape` makes it). Listed twice, the later one stands. */
  add(observation: Observation): void {
    const { key } = observation;
    if (this.stored.holds(observation)) {
      this.fresh.delete(key);
      if (this.stored.markSeen(key)) this.same++;
    } else {
      this.fresh.set(key, observation);
      if (this.stored.unmarkSeen(key)) this.same--;
    }
  }

  /** A stored object as it is stored: seen by an earlier part of the sweep, which wrote it. */
  addStored(key: string): void {
    if (!this.fresh.has(key) && this.stored.markSeen(key)) this.same++;
  }

  has(key: string): boolean {
    return this.fresh.has(key) || this.stored.wasSeen(key);
  }

  get size(): number {
    return this.fresh.size + this.same;
  }

  *keys(): Generator<string> {
    yield* this.fresh.keys();
    for (const key of this.stored.keys()) if (this.stored.wasSeen(key)) yield key;
  }

  /** Whether an observation of `kind` may be among those seen, unpacking nothing. */
  mayInclude(kind: ObjectKind): boolean {
    for (const observation of this.fresh.values()) if (observation.kind === kind) return true;
    return this.stored.mayHold(kind);
  }

  /** Every observation seen, those marked on stored objects unpacked one at a time. */
  *observations(): Generator<Observation> {
    yield* this.fresh.values();
    for (const key of this.stored.keys()) {
      if (this.stored.wasSeen(key)) yield (this.stored.get(key) as StoredObject).observation;
    }
  }

  /** Lets go of what was held whole (the marks stay, unread past the diff). */
  clear(): void {
    this.fresh.clear();
  }
}

export interface DiffInput {
  /** The source's live objects as stored, missing ones included: the diff makes them what they are after the sweep. */
  stored: PackedObjects;
  /** Objects confirmed gone earlier, kept so that one coming back continues its own history. */
  goneBefore: ReadonlyMap<string, GoneObject>;
  /** What this sweep saw (listed, or found by a direct look-up). */
  seen: Seen;
  listing: Listing;
  /** Missing objects a direct look-up said are gone. */
  confirmedGone: ReadonlySet<string>;
  /** The run's instant, ISO. */
  at: string;
}

export interface Diff {
  /** The live objects after this sweep, missing ones included: `stored`, changed in place. */
  current: PackedObjects;
  /** Keys of `current` whose item must be written. */
  changedKeys: Set<string>;
  /** Objects whose observation is new or changed, with the one stored before (undefined for a new object). */
  replaced: Map<string, Observation | undefined>;
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
 * missing without a word, and a gone one that comes back takes up its resolution counts again. What was held whole
 * of the listing is let go as it is taken in.
 */
export function diffInventory(input: DiffInput): Diff {
  const { stored: current, seen, at } = input;
  const diff: Diff = {
    current,
    changedKeys: new Set(),
    replaced: new Map(),
    added: 0,
    changed: 0,
    returned: [],
    gone: [],
    missing: 0,
  };
  if (input.listing === "failed") {
    for (const key of current.keys()) if (current.isMissing(key)) diff.missing++;
    return diff;
  }
  for (const [key, observation] of seen.fresh) {
    const before = current.get(key);
    if (!before) {
      const earlierLife = input.goneBefore.get(key);
      if (earlierLife) diff.returned.push(key);
      diff.added++;
      current.set(key, {
        observation,
        firstSeenAt: earlierLife?.firstSeenAt ?? at,
        changedAt: at,
        alerts: NO_STATE,
        resolved: earlierLife?.resolved ?? NO_STATE,
      });
      diff.replaced.set(key, undefined);
      diff.changedKeys.add(key);
      continue;
    }
    const observationChanged = !isDeepStrictEqual(before.observation, observation);
    if (!observationChanged && !before.missingSince) continue;
    if (observationChanged) {
      diff.changed++;
      diff.replaced.set(key, before.observation);
    }
    const { missingSince: _found, ...present } = before;
    current.set(key, { ...present, observation, changedAt: observationChanged ? at : before.changedAt });
    diff.changedKeys.add(key);
  }
  for (const key of current.keys()) {
    if (seen.fresh.has(key)) continue;
    const missing = current.isMissing(key);
    if (seen.has(key)) {
      // Listed as stored, after it had been missing: it was stepped over, and is back without a word.
      if (missing) {
        const { missingSince: _found, ...present } = current.get(key) as StoredObject;
        current.set(key, present);
        diff.changedKeys.add(key);
      }
      continue;
    }
    if (input.listing === "complete" && (missing || input.confirmedGone.has(key))) {
      diff.gone.push(current.get(key) as StoredObject);
      current.delete(key);
    } else if (input.listing === "complete") {
      current.set(key, { ...(current.get(key) as StoredObject), missingSince: at });
      diff.changedKeys.add(key);
      diff.missing++;
    } else if (missing) {
      diff.missing++;
    }
  }
  return diff;
}
