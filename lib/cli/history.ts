import { fit, oneLine } from "../model/text.js";
import type { Observation } from "../model/types.js";
import { openStore } from "../store/open.js";
import type { Store } from "../store/store.js";
import { loadForCli, selectSources } from "./context.js";
import type { Output } from "./output.js";

/** How much of a key or name a line shows. */
const SHOWN_CHARS = 100;

export interface HistoryCommandOptions {
  config: string;
  /** An object key, a native id or a domain. */
  object: string;
  source?: string[];
}

export interface Change {
  at: string;
  key: string;
  name: string;
  text: string;
}

function state(observation: Observation): string {
  const expiry = observation.notAfter ? `valid until ${observation.notAfter}` : "no expiry yet";
  return `${observation.status} (${observation.rawStatus}), ${expiry}`;
}

/** What differs between two snapshots of one object, in the words an operator looks for. */
function differences(before: Observation, after: Observation): string[] {
  const texts: string[] = [];
  if (before.status !== after.status || before.rawStatus !== after.rawStatus) {
    texts.push(`status ${before.status} (${before.rawStatus}) → ${after.status} (${after.rawStatus})`);
  }
  if (before.notAfter !== after.notAfter) {
    const later = (after.notAfter ?? "") > (before.notAfter ?? "");
    const what = !before.notAfter ? "issued" : later ? "renewed" : "notAfter moved earlier";
    texts.push(`${what}: valid until ${before.notAfter ?? "-"} → ${after.notAfter ?? "-"}`);
  }
  return texts;
}

/**
 * The changes of matching objects across a source's snapshots, oldest first. Each snapshot is a source's whole
 * inventory after a good sweep, so an object missing from a later one is gone. An object keeps being followed
 * once it matched, even if its domains change later.
 */
export async function objectHistory(store: Store, source: string, wanted: string): Promise<Change[]> {
  const needle = wanted.toLowerCase();
  const matches = (observation: Observation) =>
    observation.key === wanted ||
    observation.nativeId === wanted ||
    observation.domains.some((domain) => domain.toLowerCase() === needle);
  const followed = new Set<string>();
  const changes: Change[] = [];
  let previous = new Map<string, Observation>();
  for await (const { at, observations } of store.snapshots(source)) {
    const current = new Map<string, Observation>();
    for (const observation of observations) {
      if (followed.has(observation.key) || matches(observation)) current.set(observation.key, observation);
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
  return changes;
}

export async function historyCommand(options: HistoryCommandOptions, output: Output): Promise<number> {
  const { config } = await loadForCli(options.config);
  const sources = selectSources(config, options.source, options.config);
  const opened = await openStore(config.store, { dryRun: true });
  const changes: Change[] = [];
  try {
    if (await opened.store.tableExists()) {
      for (const source of sources)
        changes.push(...(await objectHistory(opened.store, source.name, options.object)));
    }
  } finally {
    await opened.close();
  }
  if (changes.length === 0) {
    output.err(`certwatch: no recorded history for ${options.object} in the stored snapshots`);
    return 0;
  }
  // Keys, names and statuses come from the clouds: one line each, without controls, the change itself in view.
  for (const change of changes.sort((a, b) => a.at.localeCompare(b.at))) {
    const [key, name] = [fit(change.key, SHOWN_CHARS), fit(change.name, SHOWN_CHARS)];
    output.out(oneLine(`${change.at}  ${key}  ${name}  ${change.text}`));
  }
  return 0;
}
