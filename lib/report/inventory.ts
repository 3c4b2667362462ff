import type { Config } from "../config/schema.js";
import { DAY_MS } from "../model/time.js";
import { type ObjectKind, type Observation, type Severity, severityRank } from "../model/types.js";
import { evaluateObject } from "../rules/evaluate.js";
import type { Store, SweepRecord } from "../store/store.js";

/** `ok`: no rule fires on the object right now. */
export type RowSeverity = Severity | "ok";

export const ROW_SEVERITIES: RowSeverity[] = ["critical", "warning", "info", "ok"];

/** Kinds an inventory holds; `source` objects exist only inside alerts about certwatch itself. */
export const INVENTORY_KINDS: ObjectKind[] = ["certificate", "client-certificate", "deployment-task"];

/** One object as the report shows it: everything observed, plus what the rules make of it now. */
export interface ReportRow extends Observation {
  severity: RowSeverity;
  /** Whole days until notAfter, rounded down as the expiry rule does; negative once expired. */
  daysLeft?: number;
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
 * things, not what is news. Silenced alerts count, a silence only holds back messages.
 */
function severityOf(observation: Observation, now: Date, config: Config): RowSeverity {
  const evaluation = evaluateObject(
    { observation, alerts: {}, firstSeenAt: "", changedAt: "" },
    { now, config, acks: new Map() },
  );
  const results = [...evaluation.alerts, ...evaluation.silenced.map((held) => held.alert)];
  return (
    results.map((result) => result.severity).sort((a, b) => severityRank[a] - severityRank[b])[0] ?? "ok"
  );
}

/** Soonest expiry first; objects without one after, by status, then name. */
export function compareRows(a: ReportRow, b: ReportRow): number {
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
    for (const { observation } of objects.values()) {
      if (filter.kind && observation.kind !== filter.kind) continue;
      const remainingMs = observation.notAfter ? Date.parse(observation.notAfter) - now.getTime() : undefined;
      if (
        filter.withinDays !== undefined &&
        !(remainingMs !== undefined && remainingMs <= filter.withinDays * DAY_MS)
      )
        continue;
      rows.push({
        ...observation,
        severity: severityOf(observation, now, config),
        ...(remainingMs !== undefined ? { daysLeft: Math.floor(remainingMs / DAY_MS) } : {}),
      });
    }
  }
  return { now, rows: rows.sort(compareRows), sources };
}
