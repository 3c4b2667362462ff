import { userInfo } from "node:os";
import type { Config } from "../config/schema.js";
import { fit, oneLine } from "../model/text.js";
import { parseDuration } from "../model/time.js";
import type { AlertMark, StoredObject } from "../model/types.js";
import { openStore } from "../store/open.js";
import { knownUnits } from "../organizations.js";
import type { Store } from "../store/store.js";
import { loadForCli, UsageError } from "./context.js";
import { ambiguous, fingerprintParts, NAMING_FORMS, namedBy } from "./find.js";
import type { Output } from "./output.js";

export interface AckCommandOptions {
  config: string;
  /** An alert fingerprint, or an object's key, native id, domain or name: see `namedBy`. */
  alert: string;
  until: string;
  reason: string;
}

interface Firing {
  fingerprint: string;
  mark: AlertMark;
  /** What a person recognises the alert by in a listing. */
  description: string;
}

/** How much of what was asked for an error repeats. */
const SHOWN_CHARS = 100;

function firingOn(object: StoredObject, rule?: string): Firing[] {
  const { observation } = object;
  return Object.entries(object.alerts ?? {})
    .filter(([name]) => rule === undefined || name === rule)
    .map(([name, mark]) => ({
      fingerprint: `${name}:${observation.key}`,
      mark,
      description: `${observation.name}: ${name} ${mark.stage}`,
    }));
}

/**
 * The firing alerts `wanted` names. A fingerprint or key is looked up directly (a source's own alerts, such as
 * `source-health:hw-scm`, in its last sweep); a native id, domain or name is searched for in every source's objects.
 * What names no object at all is a usage error.
 */
async function firingAlerts(store: Store, config: Config, wanted: string): Promise<Firing[]> {
  const fingerprint = fingerprintParts(wanted);
  const rule = fingerprint?.rule;
  const key = fingerprint?.key ?? wanted;
  const units = await knownUnits(config.sources, store);
  const source = units.find((unit) => unit.name === key || key.startsWith(`${unit.name}/`));
  if (source && rule && key === source.name) {
    const mark = (await store.lastSweep(source.name))?.alerts?.[rule];
    return mark ? [{ fingerprint: wanted, mark, description: `source ${source.name}: ${rule}` }] : [];
  }
  const direct = source && (await store.getObject(source.name, key));
  if (direct) return firingOn(direct, rule);
  const named: StoredObject[] = [];
  for (const unit of units) {
    for (const object of (await store.loadObjects(unit.name)).values()) {
      if (namedBy(object.observation, wanted)) named.push(object);
    }
  }
  if (named.length === 0) {
    throw new UsageError(
      `no stored object goes by ${fit(oneLine(wanted), SHOWN_CHARS)}. ack takes ${NAMING_FORMS}`,
    );
  }
  return named.flatMap((object) => firingOn(object));
}

/** `2026-12-01T00:00:00Z`, or a span from now such as `3d` or `12h`. */
function parseUntil(text: string, now: Date): Date {
  const span = parseDuration(text);
  const until = span !== undefined ? new Date(now.getTime() + span) : new Date(Date.parse(text));
  if (Number.isNaN(until.getTime()) || until.getTime() <= now.getTime()) {
    throw new UsageError(`--until: ${JSON.stringify(text)} is not a future time or a span such as 3d or 12h`);
  }
  return until;
}

function who(): string {
  if (process.env.CERTWATCH_USER) return process.env.CERTWATCH_USER;
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}

/**
 * Records that someone has seen an alert: no reminders for its current stage until `--until`. A new, more severe
 * stage is news again and lifts the ack by itself.
 */
export async function ackCommand(options: AckCommandOptions, output: Output): Promise<number> {
  const now = new Date();
  const until = parseUntil(options.until, now);
  if (options.reason.trim() === "") throw new UsageError("--reason: say why, for whoever reads the ack next");
  const { config } = await loadForCli(options.config);
  const opened = await openStore(config.store, { dryRun: false });
  try {
    const firing = await firingAlerts(opened.store, config, options.alert);
    if (firing.length > 1) {
      throw ambiguous(
        options.alert,
        "fingerprint",
        firing.map((alert) => [alert.fingerprint, alert.description]),
      );
    }
    const [alert] = firing;
    if (!alert) {
      throw new UsageError(
        `${fit(oneLine(options.alert), SHOWN_CHARS)} is not firing (it may have resolved); nothing to acknowledge`,
      );
    }
    const { fingerprint, mark } = alert;
    const ack = {
      fingerprint,
      stage: mark.stage,
      episode: mark.episode,
      until: until.toISOString(),
      reason: options.reason.trim(),
      by: who(),
      at: now.toISOString(),
    };
    await opened.store.putAck(ack);
    // The key comes from a cloud and the reason from a person: one line, without controls.
    output.out(
      oneLine(
        `acknowledged ${ack.fingerprint} at stage ${ack.stage} until ${ack.until} by ${ack.by}: ${ack.reason}`,
      ),
    );
    output.out("No reminders for this stage until then; a more severe stage is announced as usual.");
    return 0;
  } finally {
    await opened.close();
  }
}
