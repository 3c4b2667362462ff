import { NO_STATE, type Observation, type StoredObject } from "./model/types.js";
import type { Store } from "./store/store.js";

/** Objects written together while the listing goes on. */
const BATCH = 500;
/** Batches in flight at once; past it the listing waits for one, so that what is held stays bounded. */
const IN_FLIGHT = 2;

/**
 * New objects, written as listed while the listing still waits on the vendor's rate limit, instead of all after it:
 * the bulk of a first sweep. Each is written as not yet announced (no alert state), which is true until the sweep
 * records its news: one that alerts is judged after the listing and written again with its alert state, after the
 * ledger entries; if the sweep fails before that, the next sweep finds it stored, unannounced, and announces it then.
 * Its hostname index entries are written before it, as for any change. The sweep leaves out of its own writes what
 * is `written` here as it stands, and writes the rest itself.
 */
export class EarlyWrites {
  private batch: Observation[] = [];
  private readonly flights = new Set<Promise<void>>();
  /**
   * The observations whose object item (and index entries) are written, by key: each as the listing gave it, which the
   * sweep's own object for it shares (a first sweep of 100,000 holds no second object for each).
   */
  readonly written = new Map<string, Observation>();

  /** The item written for `observation`: new, not yet announced. */
  static asWritten(observation: Observation, at: string): StoredObject {
    return { observation, firstSeenAt: at, changedAt: at, alerts: NO_STATE, resolved: NO_STATE };
  }

  constructor(
    private readonly store: Store,
    private readonly source: string,
    private readonly now: Date,
  ) {}

  async add(observation: Observation): Promise<void> {
    this.batch.push(observation);
    if (this.batch.length < BATCH) return;
    const batch = this.batch;
    this.batch = [];
    while (this.flights.size >= IN_FLIGHT) await Promise.race(this.flights);
    const flight: Promise<void> = this.write(batch).finally(() => this.flights.delete(flight));
    this.flights.add(flight);
  }

  /** Waits for the batches in flight; a batch not yet begun is left to the sweep's own writes. */
  async settle(): Promise<void> {
    await Promise.all(this.flights);
  }

  private async write(observations: Observation[]): Promise<void> {
    try {
      await this.store.hostnames.update(observations.map((observation) => ({ after: observation })));
      const at = this.now.toISOString();
      const changed = observations.map((observation) => EarlyWrites.asWritten(observation, at));
      await this.store.writeObjects(this.source, { changed, gone: [], returned: [] }, this.now);
      for (const observation of observations) this.written.set(observation.key, observation);
    } catch {
      // Not written, then: the sweep writes these with the rest at its end, where a store that still refuses fails
      // the sweep and says so.
    }
  }
}
