import type { Observation, StoredObject } from "../model/types.js";

/** What took an object's place, so that its alert resolves instead of waiting for a change that never comes. */
export type ReplacementFinder = (observation: Observation) => Observation | undefined;

function addTo<T>(index: Map<string, T[]>, key: string, item: T): void {
  const list = index.get(key);
  if (list) list.push(item);
  else index.set(key, [item]);
}

/** Whether worker `a` ran after worker `b`: by GmtModified when both have one, else by job id (ids only grow). */
function ranAfter(a: Observation, b: Observation): boolean {
  if (a.updatedAt && b.updatedAt) return Date.parse(a.updatedAt) > Date.parse(b.updatedAt);
  return Number(a.details?.jobId ?? 0) > Number(b.details?.jobId ?? 0);
}

/**
 * Within one source: a certificate is replaced by a newer live one that covers all of its domains; a failed
 * deployment worker by a later worker (of any job, a redeploy say) that deployed successfully to the same resource.
 * CAS never rewrites a finished job's workers, so this is the only way such a failure is ever fixed. Given what it will
 * be asked about (`askedAbout`), it indexes only what could replace those, not every name of every certificate. It
 * keeps a certificate's key and end, and reads the rest of one from `objects` only when it may be the answer: a sweep
 * holds its objects packed (PackedObjects).
 */
export function replacementFinder(
  objects: ReadonlyMap<string, StoredObject>,
  askedAbout?: Iterable<Observation>,
): ReplacementFinder {
  const firstDomains = askedAbout && new Set<string>();
  const resources = askedAbout && new Set<string>();
  for (const o of askedAbout ?? []) {
    if (o.domains[0]) firstDomains?.add(o.domains[0]);
    if (o.details?.resourceId) resources?.add(o.details.resourceId);
  }
  const certificatesByDomain = new Map<string, { key: string; notAfter: string }[]>();
  const successesByResource = new Map<string, Observation[]>();
  for (const { observation: o } of objects.values()) {
    if (o.kind === "certificate" && o.status === "active" && o.notAfter) {
      const candidate = { key: o.key, notAfter: o.notAfter };
      for (const domain of o.domains) {
        if (!firstDomains || firstDomains.has(domain)) addTo(certificatesByDomain, domain, candidate);
      }
    }
    const resourceId = o.details?.resourceId;
    if (o.kind === "deployment-task" && o.status === "succeeded" && resourceId) {
      if (!resources || resources.has(resourceId)) addTo(successesByResource, resourceId, o);
    }
  }

  return (observation) => {
    if (observation.kind === "deployment-task") {
      const resourceId = observation.details?.resourceId;
      // A worker still running is neither fixed nor failed yet; one that succeeded needs no fix.
      if (observation.status === "succeeded" || observation.status === "pending" || !resourceId)
        return undefined;
      const later = (successesByResource.get(resourceId) ?? []).filter((c) => ranAfter(c, observation));
      return later.reduce<Observation | undefined>(
        (latest, c) => (!latest || ranAfter(c, latest) ? c : latest),
        undefined,
      );
    }
    const [first, ...rest] = observation.domains;
    if (observation.kind !== "certificate" || !first || !observation.notAfter) return undefined;
    const notAfter = observation.notAfter;
    // The one that ends last; of those that end together, the first indexed.
    let newest: Observation | undefined;
    for (const candidate of certificatesByDomain.get(first) ?? []) {
      if (candidate.key === observation.key || candidate.notAfter <= notAfter) continue;
      if (newest?.notAfter && candidate.notAfter <= newest.notAfter) continue;
      const whole = objects.get(candidate.key)?.observation;
      if (whole && rest.every((domain) => whole.domains.includes(domain))) newest = whole;
    }
    return newest;
  };
}
