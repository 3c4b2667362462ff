import { isDeepStrictEqual } from "node:util";
import type { SourceConfig } from "./config/schema.js";
import type { Seen } from "./diff.js";
import type { Observation, StoredObject } from "./model/types.js";
import { mapInOrder } from "./sources/concurrency.js";
import type { IndexedObject, ObjectChange } from "./store/hostnames.js";
import { countByIssuer } from "./store/issuers.js";
import type { Store } from "./store/store.js";

/*
 * What one source's sweep keeps for others and reads from them, through the store's indexes, never by loading
 * another source's objects: the certificates each CA issued, and the inventory certificates by hostname.
 */

/** Whether a source's sweep reads what other sources' sweeps write (see `sweepSources`). */
export function readsOtherSources(source: SourceConfig): boolean {
  return source.type === "aliyun-private-ca" || source.type === "tls-endpoints";
}

/** Hostname look-ups in flight at once: one query or two each (exact and wildcard). */
const LOOKUPS_AT_ONCE = 16;

/** How close an inventory certificate's end must be to the served one's to be taken as the same certificate. */
const SAME_CERTIFICATE_MS = 86_400_000;

/** What the inventories hold for an endpoint's name, beside what the endpoint serves. */
export interface InventoryView {
  /** The newest live inventory certificate covering the name. */
  newest?: IndexedObject;
  /** Whether a live inventory certificate for the name ends when the served one does: the inventory knows it. */
  knowsServed: boolean;
  /** The deployment jobs that put a certificate onto a resource of this name, at most MAX_DEPLOYMENTS. */
  deployments: IndexedObject[];
}

/** Deployments named in a message: enough to know where to look, not a list to scroll. */
const MAX_DEPLOYMENTS = 3;

/** For each endpoint that serves a certificate, what the inventories hold for its name (the store's hostname index). */
export async function inventoryForEndpoints(
  endpoints: Iterable<Observation>,
  store: Store,
): Promise<Map<string, InventoryView>> {
  const views = new Map<string, InventoryView>();
  const serving = [...endpoints].filter(
    (observation) => observation.kind === "endpoint" && observation.notAfter,
  );
  // Every name under one wildcard asks for the same one: asked once an evaluation.
  const wildcards = new Map<string, Promise<IndexedObject[]>>();
  const looked = mapInOrder(serving, LOOKUPS_AT_ONCE, async (endpoint) => {
    const hostname = endpoint.details?.serverName ?? endpoint.details?.host;
    return { endpoint, covering: hostname ? await store.hostnames.covering(hostname, wildcards) : undefined };
  });
  for await (const { endpoint, covering } of looked) {
    if (!covering) continue;
    const served = Date.parse(endpoint.notAfter ?? "");
    const live = covering
      .filter(
        (candidate) =>
          candidate.kind !== "deployment-task" && candidate.status === "active" && candidate.notAfter,
      )
      .sort((a, b) => Date.parse(b.notAfter ?? "") - Date.parse(a.notAfter ?? ""));
    const deployments = covering
      .filter((candidate) => candidate.kind === "deployment-task" && candidate.jobId)
      .sort((a, b) => a.key.localeCompare(b.key))
      .slice(0, MAX_DEPLOYMENTS);
    views.set(endpoint.key, {
      ...(live[0] ? { newest: live[0] } : {}),
      deployments,
      knowsServed: live.some(
        (candidate) => Math.abs(Date.parse(candidate.notAfter ?? "") - served) <= SAME_CERTIFICATE_MS,
      ),
    });
  }
  return views;
}

/** The inventory certificate an endpoint should serve instead, when the newest for its name outlives what it serves. */
export function newerThanServed(
  endpoint: Observation,
  view: InventoryView | undefined,
): IndexedObject | undefined {
  const newest = view?.newest;
  if (!newest?.notAfter || !endpoint.notAfter) return undefined;
  // Within a day it is the served certificate itself, read in another zone (SCM's expire_time has none).
  return Date.parse(newest.notAfter) > Date.parse(endpoint.notAfter) + SAME_CERTIFICATE_MS
    ? newest
    : undefined;
}

/**
 * Whether an endpoint serves a certificate no inventory holds for its name, when its source asks to hear of that
 * (`notInInventory: alert`). One the inventory has replaced is "renewed but not deployed" instead, not both.
 */
export function notInInventory(
  source: SourceConfig,
  endpoint: Observation,
  view: InventoryView | undefined,
): boolean {
  if (source.type !== "tls-endpoints" || source.notInInventory !== "alert" || !view) return false;
  return !view.knowsServed && newerThanServed(endpoint, view) === undefined;
}

/**
 * A CA whose collector could not count what it issued (Alibaba's private CAs: their client certificates are another
 * source's) takes the count the store's issuer index holds for other sources, plus what this sweep itself saw it
 * issue (its subordinate CAs), so that even a first sweep counts them.
 */
export async function addDependents(seen: Seen, store: Store, source: string): Promise<void> {
  // Most sources hold no CA: their unchanged objects are not unpacked to find none.
  if (!seen.mayInclude("certificate-authority")) return;
  const authorities: Observation[] = [];
  const issuedHere = countByIssuer(
    (function* () {
      for (const observation of seen.observations()) {
        if (observation.kind === "certificate-authority" && observation.details?.dependents === undefined)
          authorities.push(observation);
        yield observation;
      }
    })(),
  );
  for (const authority of authorities) {
    const elsewhere = await store.issuers.dependents(authority.nativeId, source);
    const here = issuedHere.get(authority.nativeId);
    if (elsewhere === undefined && here === undefined) continue;
    seen.add({
      ...authority,
      details: { ...authority.details, dependents: String((elsewhere ?? 0) + (here ?? 0)) },
    });
  }
}

/**
 * The version of what the indexes hold. A sweep record without it (a store from before the indexes, or a sweep whose
 * index write failed) makes the next sweep write the source's whole inventory into them once.
 */
export const INDEX_VERSION = 2;

/**
 * Keeps the store's indexes in step with what a sweep is about to write: only what changed, unless `rebuild` (see
 * INDEX_VERSION). Written before the objects, so that a sweep cut short after it finds the same changes again.
 */
export async function updateIndexes(
  store: Store,
  source: string,
  change: {
    current: ReadonlyMap<string, StoredObject>;
    /** Objects whose observation is new or changed, with the one stored before (`Diff.replaced`). */
    replaced: ReadonlyMap<string, Observation | undefined>;
    gone: readonly StoredObject[];
    rebuild: boolean;
    /** Observations the sweep's early writes indexed already, as written (EarlyWrites). */
    early?: ReadonlyMap<string, Observation>;
  },
): Promise<void> {
  const { current, replaced, gone, rebuild, early } = change;
  function* hostnameChanges(): Generator<ObjectChange> {
    for (const key of rebuild ? current.keys() : replaced.keys()) {
      const after = current.get(key)?.observation;
      const written = early?.get(key);
      if (written !== undefined && written === after) continue;
      // An object written early and listed again differently has its early entries to replace.
      yield { before: (rebuild ? undefined : replaced.get(key)) ?? written, after };
    }
    for (const object of gone) yield { before: object.observation };
  }
  await store.hostnames.update(hostnameChanges());

  // The counts move only with observations that changed: only then is the whole inventory counted.
  const changedBefore = countByIssuer([...replaced.values(), ...gone.map((object) => object.observation)]);
  const changedAfter = countByIssuer([...replaced.keys()].map((key) => current.get(key)?.observation));
  if (!rebuild && isDeepStrictEqual(changedBefore, changedAfter)) return;
  const after = countByIssuer(observationsOf(current.values()));
  const before = new Map<string, number>();
  if (!rebuild) {
    for (const issuer of new Set([...after.keys(), ...changedBefore.keys()])) {
      const count =
        (after.get(issuer) ?? 0) - (changedAfter.get(issuer) ?? 0) + (changedBefore.get(issuer) ?? 0);
      if (count > 0) before.set(issuer, count);
    }
  }
  await store.issuers.update(source, before, after);
}

export function* observationsOf(objects: Iterable<StoredObject>): Generator<Observation> {
  for (const object of objects) yield object.observation;
}
