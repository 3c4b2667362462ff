import type { Config } from "../config/schema.js";
import {
  type InventoryView,
  inventoryForEndpoints,
  newerThanServed,
  notInInventory,
} from "../cross-source.js";
import { DAY_MS, daysLeft } from "../model/time.js";
import { type ObjectKind, type Observation, type Severity, severityRank } from "../model/types.js";
import { evaluateObject, type ObjectFacts } from "../rules/evaluate.js";
import { replacementFinder } from "../rules/replacement.js";
import type { IndexedObject } from "../store/hostnames.js";
import type { Store, SweepRecord } from "../store/store.js";

/** `ok`: no rule fires on the object right now. */
export type RowSeverity = Severity | "ok";

export const ROW_SEVERITIES: RowSeverity[] = ["critical", "warning", "info", "ok"];

/** Kinds an inventory holds; `source` objects exist only inside alerts about certwatch itself. */
export const INVENTORY_KINDS: ObjectKind[] = [
  "certificate",
  "client-certificate",
  "certificate-authority",
  "deployment-task",
  "endpoint",
];

/** One object as the report shows it: everything observed, plus what the rules make of it now. */
export interface ReportRow extends Observation {
  severity: RowSeverity;
  /** Whole days until notAfter, counted as every message counts them (`daysLeft` in model/time.ts). */
  daysLeft?: number;
  /** The native id of what took this object's place, as a sweep sees it: it no longer alerts. */
  replacedBy?: string;
  /** An endpoint's: the newest live inventory certificate for its name, shown beside what it serves. */
  inventoryNewest?: IndexedObject;
}

export interface SourceState {
  name: string;
  type: Config["sources"][number]["type"];
  lastSweep?: SweepRecord;
}

export interface Inventory {
  now: Date;
  rows: ReportRow[];
  sources: SourceState[];
}

export interface InventoryFilter {
  sources: Config["sources"];
  kind?: ObjectKind;
  /** Only objects whose notAfter is at most this many days after now (expired ones included). */
  withinDays?: number;
}

/**
 * The severity the rules give the object as if nothing had been announced yet: the report shows the state of
 * things, not what is news. Silenced alerts count, a silence only holds back messages; a replaced object does not
 * alert, as in a sweep.
 */
function severityOf(observation: Observation, now: Date, config: Config, facts: ObjectFacts): RowSeverity {
  const evaluation = evaluateObject(
    { observation, alerts: {}, firstSeenAt: "", changedAt: "" },
    { now, config, acks: new Map() },
    facts,
  );
  const results = [...evaluation.alerts, ...evaluation.silenced.map((held) => held.alert)];
  return (
    results.map((result) => result.severity).sort((a, b) => severityRank[a] - severityRank[b])[0] ?? "ok"
  );
}

/**
 * Live problems first, then the other live objects, then those out of service (inactive, replaced): an inactive
 * SAML certificate that expired a year ago is no news. Within each, soonest expiry first; objects without one after,
 * by status, then name.
 */
export function compareRows(a: ReportRow, b: ReportRow): number {
  const standing = (row: ReportRow) =>
    row.status === "inactive" || row.replacedBy ? 2 : row.severity === "ok" ? 1 : 0;
  const byStanding = standing(a) - standing(b);
  if (byStanding !== 0) return byStanding;
  if (a.notAfter && b.notAfter) return a.notAfter.localeCompare(b.notAfter) || a.key.localeCompare(b.key);
  if (a.notAfter || b.notAfter) return a.notAfter ? -1 : 1;
  return a.status.localeCompare(b.status) || a.name.localeCompare(b.name) || a.key.localeCompare(b.key);
}

/** Reads the stored objects and last sweep of each source; writes nothing. */
export async function readInventory(
  store: Store,
  config: Config,
  now: Date,
  filter: InventoryFilter,
): Promise<Inventory> {
  const rows: ReportRow[] = [];
  const sources: SourceState[] = [];
  const exists = await store.tableExists();
  for (const source of filter.sources) {
    const [objects, lastSweep] = exists
      ? await Promise.all([store.loadObjects(source.name), store.lastSweep(source.name)])
      : [new Map(), undefined];
    sources.push({ name: source.name, type: source.type, lastSweep });
    const replacementOf = replacementFinder(objects);
    const observations = [...objects.values()].map((object) => object.observation);
    const inventoryOf = exists
      ? await inventoryForEndpoints(observations, store)
      : new Map<string, InventoryView>();
    for (const observation of observations) {
      if (filter.kind && observation.kind !== filter.kind) continue;
      const remainingMs = observation.notAfter ? Date.parse(observation.notAfter) - now.getTime() : undefined;
      if (
        filter.withinDays !== undefined &&
        !(remainingMs !== undefined && remainingMs <= filter.withinDays * DAY_MS)
      )
        continue;
      const replacement = replacementOf(observation);
      const view = inventoryOf.get(observation.key);
      const facts = {
        replacement,
        newer: newerThanServed(observation, view),
        notInInventory: notInInventory(source, observation, view),
      };
      rows.push({
        ...observation,
        severity: severityOf(observation, now, config, facts),
        ...(observation.notAfter ? { daysLeft: daysLeft(observation.notAfter, now) } : {}),
        ...(replacement ? { replacedBy: replacement.nativeId } : {}),
        ...(view?.newest ? { inventoryNewest: view.newest } : {}),
      });
    }
  }
  return { now, rows: rows.sort(compareRows), sources };
}
