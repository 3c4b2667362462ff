import { userInfo } from "node:os";
import { parseDuration } from "../model/time.js";
import { openStore } from "../store/open.js";
import { loadForCli, UsageError } from "./context.js";
import type { Output } from "./output.js";

export interface AckCommandOptions {
  config: string;
  fingerprint: string;
  until: string;
  reason: string;
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
  const separator = options.fingerprint.indexOf(":");
  const rule = options.fingerprint.slice(0, separator);
  const key = options.fingerprint.slice(separator + 1);
  const sourceName = key.split("/")[0] ?? "";
  if (separator <= 0 || !config.sources.some((source) => source.name === sourceName)) {
    throw new UsageError(
      `${options.fingerprint}: not an alert fingerprint of this config (rule:source/kind/id, as in the message)`,
    );
  }
  const opened = await openStore(config.store, { dryRun: false });
  try {
    const state = key.includes("/")
      ? await opened.store.getObject(sourceName, key)
      : await opened.store.lastSweep(sourceName);
    const mark = state?.alerts?.[rule];
    if (!mark) {
      throw new UsageError(
        `${options.fingerprint} is not firing (it may have resolved); nothing to acknowledge`,
      );
    }
    const ack = {
      fingerprint: options.fingerprint,
      stage: mark.stage,
      episode: mark.episode,
      until: until.toISOString(),
      reason: options.reason.trim(),
      by: who(),
      at: now.toISOString(),
    };
    await opened.store.putAck(ack);
    output.out(
      `acknowledged ${ack.fingerprint} at stage ${ack.stage} until ${ack.until} by ${ack.by}: ${ack.reason}\n` +
        "No reminders for this stage until then; a more severe stage is announced as usual.",
    );
    return 0;
  } finally {
    await opened.close();
  }
}
