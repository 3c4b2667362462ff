import { isDeepStrictEqual } from "node:util";
import type { SourceConfig } from "./config/schema.js";
import {
  inventoryForEndpoints,
  type InventoryView,
  newerThanServed,
  notInInventory,
} from "./cross-source.js";
import type { PackedObjects } from "./model/packed-objects.js";
import type { GoneObject, Observation, StoredObject } from "./model/types.js";
import { type EvaluateContext, type Evaluation, evaluateObject, needsJudging } from "./rules/evaluate.js";
import { replacementFinder } from "./rules/replacement.js";
import type { Store } from "./store/store.js";

/*
 * One source's objects judged after its diff: those that need it (something was announced on them, or a rule fires
 * on them now), each with what could replace it and, for an endpoint, what the inventory holds for its name; then
 * the objects gone in this sweep, whose alerts resolve. A judged object is unpacked where it is read, and held whole
 * after only if its alert state changed.
 */

export interface JudgeInput {
  source: SourceConfig;
  store: Store;
  context: EvaluateContext;
  /** The live objects after the diff; a judged one whose alert state changes is set whole, its key in `changedKeys`. */
  current: PackedObjects;
  changedKeys: Set<string>;
  /** Objects confirmed gone in this sweep, as last stored. */
  gone: readonly StoredObject[];
  /** Objects left for the next sweep to judge (written early by a listing that then failed). */
  unjudged: ReadonlySet<string>;
  /** A run behind a recorded one judges no object: at its earlier instant it would resolve what the later run announced. */
  behind: boolean;
  /** Set when the listing failed: what the alerts were computed from was last seen then. */
  staleSince?: string;
  at: string;
}

export interface Judgement extends Pick<Evaluation, "alerts" | "silenced" | "acknowledged"> {
  /** What is kept of each object gone in this sweep. */
  gone: GoneObject[];
  /** The inventory could not be read to compare endpoints with (why): their comparisons stand as last judged. */
  inventoryUnread?: { error: unknown };
}

export async function judgeObjects(input: JudgeInput): Promise<Judgement> {
  const { source, context, current, changedKeys, at } = input;
  const judgement: Judgement = { alerts: [], silenced: [], acknowledged: [], gone: [] };
  const collect = (evaluation: Evaluation) => {
    judgement.alerts.push(...evaluation.alerts);
    judgement.silenced.push(...evaluation.silenced);
    judgement.acknowledged.push(...evaluation.acknowledged);
  };
  const toJudge: string[] = [];
  for (const [key, object] of input.behind ? [] : current) {
    if (!input.unjudged.has(key) && needsJudging(object, context)) toJudge.push(key);
  }
  const replacementOf = replacementFinder(current, judgedObservations(current, toJudge));
  // A source that holds no endpoint has none of its objects unpacked to look for one.
  const endpoints = current.mayHold("endpoint") ? endpointsOf(current.values()) : [];
  const inventoryOf = await inventoryForEndpoints(endpoints, input.store).catch((caught: unknown) => {
    judgement.inventoryUnread = { error: caught };
    return new Map<string, InventoryView>();
  });
  for (const key of toJudge) {
    const object = current.get(key) as StoredObject;
    const evaluation = evaluateObject(object, context, {
      replacement: replacementOf(object.observation),
      newer: newerThanServed(object.observation, inventoryOf.get(key)),
      deployments: inventoryOf.get(key)?.deployments,
      notInInventory: notInInventory(source, object.observation, inventoryOf.get(key)),
      inventoryUnread: judgement.inventoryUnread !== undefined,
    });
    collect(evaluation);
    if (!isDeepStrictEqual(evaluation.state, { alerts: object.alerts, resolved: object.resolved ?? {} })) {
      current.set(key, { ...object, ...evaluation.state });
      changedKeys.add(key);
    }
  }
  for (const object of input.gone) {
    const evaluation = evaluateObject(object, context, { gone: true, goneBecause: source.leftOrganization });
    collect(evaluation);
    const { key } = object.observation;
    judgement.gone.push({
      key,
      firstSeenAt: object.firstSeenAt,
      goneAt: at,
      resolved: evaluation.state.resolved,
    });
  }
  for (const alert of judgement.alerts) {
    // Computed from what was last seen: the message must say the source could not be read.
    if (input.staleSince !== undefined) alert.staleSince = input.staleSince;
    // Alerting as last seen: the message must say the listing no longer shows it.
    const missingSince = current.get(alert.object.key)?.missingSince;
    if (missingSince && alert.transition !== "resolved") alert.missingSince = missingSince;
  }
  return judgement;
}

function* endpointsOf(objects: Iterable<StoredObject>): Generator<Observation> {
  for (const { observation } of objects) if (observation.kind === "endpoint") yield observation;
}

function* judgedObservations(
  objects: ReadonlyMap<string, StoredObject>,
  keys: string[],
): Generator<Observation> {
  for (const key of keys) yield (objects.get(key) as StoredObject).observation;
}
