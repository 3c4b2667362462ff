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

/** When a worker last changed: its GmtModified, else its job id (later jobs have larger ids). */
function workerOrder(observation: Observation): number {
  return observation.updatedAt ? Date.parse(observation.updatedAt) : Number(observation.details?.jobId ?? 0);
}

/**
 * Within one source: a certificate is replaced by a newer live one that covers all of its domains; a failed
 * deployment worker by a later worker (of any job, a redeploy say) that deployed successfully to the same resource.
 * CAS never rewrites a finished job's workers, so this is the only way such a failure is ever fixed.
 */
export function replacementFinder(objects: Iterable<StoredObject>): ReplacementFinder {
  const all = [...objects].map((object) => object.observation);
  const certificatesByDomain = indexBy(
    all.filter((o) => o.kind === "certificate" && o.status === "active" && o.notAfter),
    (o) => o.domains,
  );
  const successesByResource = indexBy(
    all.filter((o) => o.kind === "deployment-task" && o.status === "succeeded" && o.details?.resourceId),
    (o) => [o.details?.resourceId as string],
  );

  return (observation) => {
    if (observation.kind === "deployment-task") {
      const resourceId = observation.details?.resourceId;
      if (observation.status !== "failed" || !resourceId) return undefined;
      return (successesByResource.get(resourceId) ?? [])
        .filter((candidate) => workerOrder(candidate) > workerOrder(observation))
        .sort((a, b) => workerOrder(b) - workerOrder(a))[0];
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
