import { createHash } from "node:crypto";
import type { Config } from "./config/schema.js";
import { parseDuration } from "./model/time.js";
import type { Store } from "./store/store.js";

/**
 * The config with every silence's end as an ISO time. A silence given as a span (`until: 3d`) runs from the first
 * run that saw it, as the store records: editing its match, span or reason makes it a new silence, which starts
 * again. `record` is false where nothing may be written (a dry run, a report): an unseen one then starts now.
 */
export async function withSilenceEnds(
  config: Config,
  store: Store,
  now: Date,
  record: boolean,
): Promise<Config> {
  if (!config.silences.some((silence) => parseDuration(silence.until) !== undefined)) return config;
  const silences = await Promise.all(
    config.silences.map(async (silence) => {
      const span = parseDuration(silence.until);
      if (span === undefined) return silence;
      // The match's keys sorted: reordering them in the YAML is not a new silence.
      const match = Object.fromEntries(Object.entries(silence.match).sort(([a], [b]) => a.localeCompare(b)));
      const id = createHash("sha256")
        .update(JSON.stringify([match, silence.until, silence.reason]))
        .digest("hex");
      const startedAt = await store.silenceStart(id, now, record);
      return { ...silence, until: new Date(Date.parse(startedAt) + span).toISOString() };
    }),
  );
  return { ...config, silences };
}
