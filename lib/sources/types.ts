import type { SourceConfig } from "../config/schema.js";
import type { Observation } from "../model/types.js";
import type { CallStats, HttpClient } from "./http.js";

/**
 * Where a listing walk can pick up again, as a driver describes it (page, entries served, total...): JSON-safe, since
 * the sweep stores it between parts.
 */
export type ListingPlace = Record<string, string | number | boolean>;

export interface CollectContext {
  http: HttpClient;
  stats: CallStats;
  /** What the source held after its last good sweep, by key; lets a collector skip what cannot have changed. */
  previous: ReadonlyMap<string, Observation>;
  /** Something worth telling the operator that does not fail the sweep (an unknown status, say). */
  warn: (message: string) => void;
  /** Aborted once the sweep of this source is over, so that requests it no longer needs stop. */
  signal?: AbortSignal;
  /**
   * Masks the config's secrets in a vendor's error answer before anything reads or shortens it: a secret the vendor
   * echoes back, cut in half by a length limit, would no longer be recognised afterwards.
   */
  redact?: (text: string) => string;
  /**
   * The listing changed while it was paged (an id served on two pages, say): what it showed is used, but an object
   * absent from it is not taken as missing, since the walk may have stepped over it.
   */
  unsettled?: (reason: string) => void;
  /**
   * Told how many objects a listing holds, as its first page states it, for a progress line. A source that walks
   * several listings of its objects (one per status) tells each, and the counts add up.
   */
  total?: (count: number) => void;
  /** Every name the inventories' certificates cover (the store's hostname index), for a source that probes them. */
  inventoryHostnames?: () => AsyncIterable<string>;
  /** Where an earlier part of this sweep left off (the last place `reached` was told); absent for a sweep from the start. */
  resumeFrom?: ListingPlace;
  /**
   * Told, between pages, a place from which collect can resume: every observation before it has been yielded and
   * taken. It may throw (this part of the sweep is over): collect lets that error propagate and stops there.
   */
  reached?: (place: ListingPlace) => void;
}

/** One API family. Collect streams observations; it throws when the sweep cannot be trusted as complete. */
export interface SourceDriver<T extends SourceConfig["type"] = SourceConfig["type"]> {
  type: T;
  collect(source: Extract<SourceConfig, { type: T }>, context: CollectContext): AsyncIterable<Observation>;
  /**
   * One object by id, where the API can tell: to confirm that an object missing from a listing is really gone.
   * "gone" only on the vendor's own "no such object"; any other failure throws.
   */
  lookUp?(
    source: Extract<SourceConfig, { type: T }>,
    context: CollectContext,
    missing: Observation,
  ): Promise<Observation | "gone">;
  /** One cheap signed call proving the endpoint and credentials; returns a line for the operator. */
  verify(source: Extract<SourceConfig, { type: T }>, context: CollectContext): Promise<string>;
}
