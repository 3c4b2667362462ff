import type { Observation, StoredObject } from "../model/types.js";

/** What took an object's place, so that its alert resolves instead of waiting for a change that never comes. */
export type ReplacementFinder = (observation: Observation) => Observation | undefined;

function indexBy(
  observations: Observation[],
  keysOf: (o: Observation) => string[],
): Map<string, Observation[]> {
  const index = new Map<string, Observation[]>();
  for (const observation of observations) {
    for (const key of keysOf(observation)) {
      const list = index.get(key);
      if (list) list.push(observation);
      else index.set(key, [observation]);
    }
  }
  return index;
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
 * be asked about (`askedAbout`), it indexes only what could replace those, not every name of every certificate.
 */
export function replacementFinder(
  objects: Iterable<StoredObject>,
  askedAbout?: Iterable<Observation>,
): ReplacementFinder {
  const asked = askedAbout ? [...askedAbout] : undefined;
  const firstDomains = asked && new Set(asked.flatMap((o) => o.domains.slice(0, 1)));
  const resources = asked && new Set(asked.flatMap((o) => o.details?.resourceId ?? []));
  const certificates: Observation[] = [];
  const successes: Observation[] = [];
  for (const { observation: o } of objects) {
    if (o.kind === "certificate" && o.status === "active" && o.notAfter) certificates.push(o);
    if (o.kind === "deployment-task" && o.status === "succeeded" && o.details?.resourceId) successes.push(o);
  }
  const certificatesByDomain = indexBy(certificates, (o) =>
    firstDomains ? o.domains.filter((domain) => firstDomains.has(domain)) : o.domains,
  );
  const successesByResource = indexBy(successes, (o) => {
    const resourceId = o.details?.resourceId as string;
    return !resources || resources.has(resourceId) ? [resourceId] : [];
  });

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
    return (certificatesByDomain.get(first) ?? [])
      .filter((candidate) => candidate.key !== observation.key && (candidate.notAfter ?? "") > notAfter)
      .filter((candidate) => rest.every((domain) => candidate.domains.includes(domain)))
      .sort((a, b) => (b.notAfter ?? "").localeCompare(a.notAfter ?? ""))[0];
  };
}
