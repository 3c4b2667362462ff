import { fit, oneLine } from "../model/text.js";
import type { Observation } from "../model/types.js";
import { openStore } from "../store/open.js";
import type { Store } from "../store/store.js";
import { loadForCli, selectKnownUnits, UsageError } from "./context.js";
import { ambiguous, NAMING_FORMS, type NamedBy, namedBy } from "./find.js";
import type { Output } from "./output.js";

/** How much of a key or name a line shows. */
const SHOWN_CHARS = 100;

export interface HistoryCommandOptions {
  config: string;
  /** An alert fingerprint, an object key, a native id, a domain or a name: see `namedBy`. */
  object: string;
  source?: string[];
}

export interface Change {
  at: string;
  key: string;
  name: string;
  text: string;
}

/** The vendor's status, short enough to leave the change it names on the line. */
const rawStatusOf = (observation: Observation) => fit(oneLine(observation.rawStatus), 60);

function state(observation: Observation): string {
  const expiry = observation.notAfter ? `valid until ${observation.notAfter}` : "no expiry yet";
  return `${observation.status} (${rawStatusOf(observation)}), ${expiry}`;
}

/** What differs between two snapshots of one object, in the words an operator looks for. */
function differences(before: Observation, after: Observation): string[] {
  const texts: string[] = [];
  if (before.status !== after.status || before.rawStatus !== after.rawStatus) {
    texts.push(`status ${before.status} (${rawStatusOf(before)}) → ${after.status} (${rawStatusOf(after)})`);
  }
  if (before.notAfter !== after.notAfter) {
    const later = (after.notAfter ?? "") > (before.notAfter ?? "");
    const what = !before.notAfter ? "issued" : later ? "renewed" : "notAfter moved earlier";
    texts.push(`${what}: valid until ${before.notAfter ?? "-"} → ${after.notAfter ?? "-"}`);
  }
  return texts;
}

/** The objects a text named in the snapshots, by key: how it named each, and the name it had. */
export type Named = Map<string, { by: NamedBy; name: string }>;

/**
 * The changes of matching objects across a source's snapshots, oldest first, and which objects matched. Each
 * snapshot is a source's whole inventory after a good sweep, so an object missing from a later one is gone. An
 * object keeps being followed once it matched, even if its domains change later.
 */
export async function objectHistory(
  store: Store,
  source: string,
  wanted: string,
): Promise<{ changes: Change[]; named: Named }> {
  const followed = new Set<string>();
  const named: Named = new Map();
  const changes: Change[] = [];
  let previous = new Map<string, Observation>();
  for await (const { at, observations } of store.snapshots(source)) {
    const current = new Map<string, Observation>();
    for (const observation of observations) {
      const by = namedBy(observation, wanted);
      if (by && !named.has(observation.key)) named.set(observation.key, { by, name: observation.name });
      if (followed.has(observation.key) || by) current.set(observation.key, observation);
    }
    const note = (observation: Observation, text: string) =>
      changes.push({ at, key: observation.key, name: observation.name, text });
    for (const [key, observation] of current) {
      const before = previous.get(key);
      if (before) for (const text of differences(before, observation)) note(observation, text);
      else note(observation, `${followed.has(key) ? "listed again" : "first seen"}: ${state(observation)}`);
      followed.add(key);
    }
    for (const [key, before] of previous) {
      if (!current.has(key)) note(before, "gone: no longer listed by the source");
    }
    previous = current;
  }
  return { changes, named };
}

/**
 * The objects whose history to show: the one a key or fingerprint names; every certificate a domain names (its
 * renewals are other objects); else the one object a native id or name fits. A name that fits several is refused,
 * listing their keys.
 */
function chosen(named: Named, wanted: string): Set<string> {
  const matches = [...named];
  const byKey = matches.filter(([, { by }]) => by === "key");
  if (byKey.length > 0) return new Set(byKey.map(([key]) => key));
  if (matches.length > 1 && matches.some(([, { by }]) => by !== "domain")) {
    const choices = matches.map(([key, { name }]): [string, string] => [key, name]);
    throw ambiguous(wanted, "key", choices);
  }
  return new Set(named.keys());
}

export async function historyCommand(options: HistoryCommandOptions, output: Output): Promise<number> {
  const { config } = await loadForCli(options.config);
  const opened = await openStore(config.store, { dryRun: true });
  const changes: Change[] = [];
  const named: Named = new Map();
  try {
    const sources = await selectKnownUnits(config, options.source, options.config, opened.store);
    if (await opened.store.tableExists()) {
      for (const source of sources) {
        const found = await objectHistory(opened.store, source.name, options.object);
        changes.push(...found.changes);
        for (const [key, match] of found.named) named.set(key, match);
      }
    }
  } finally {
    await opened.close();
  }
  if (named.size === 0) {
    throw new UsageError(
      `no recorded history for ${fit(oneLine(options.object), SHOWN_CHARS)}: no object in the stored ` +
        `snapshots goes by it. history takes ${NAMING_FORMS}`,
    );
  }
  const keys = chosen(named, options.object);
  // Keys, names and statuses come from the clouds: one line each, without controls, the change itself in view.
  const shown = changes.filter((change) => keys.has(change.key));
  for (const change of shown.sort((a, b) => a.at.localeCompare(b.at))) {
    const [key, name] = [fit(change.key, SHOWN_CHARS), fit(change.name, SHOWN_CHARS)];
    output.out(oneLine(`${change.at}  ${key}  ${name}  ${change.text}`));
  }
  return 0;
}
