import type { Config } from "../config/schema.js";
import { matches } from "../model/match.js";
import type { Alert, AlertMark, RuleResult, StoredObject } from "../model/types.js";
import { HOUR_MS, parseDuration } from "../model/time.js";
import { deploymentAlert } from "./deployment.js";
import { expiryAlert, revocationAlert, stageRank } from "./expiry.js";

const DEFAULT_STUCK_AFTER_MS = 6 * HOUR_MS;

function stuckAfterMs(config: Config, sourceName: string): number {
  const source = config.sources.find((candidate) => candidate.name === sourceName);
  const text = source?.type === "aliyun-deployment-jobs" ? source.stuckAfter : undefined;
  return (text && parseDuration(text)) || DEFAULT_STUCK_AFTER_MS;
}

export interface Evaluation {
  /** Alerts that are news in this run, one per rule at most. */
  alerts: Alert[];
  /** Alerts that would be news but a silence holds back; they are announced once the silence ends. */
  silenced: { alert: Alert; reason: string }[];
  /** The object's alert marks after this run's news is recorded. */
  marks: Record<string, AlertMark>;
}

function currentResults(object: StoredObject, now: Date, config: Config): RuleResult[] {
  const { observation } = object;
  return [
    expiryAlert(observation, now, config.alerts),
    revocationAlert(observation),
    deploymentAlert(observation, now, config.alerts, stuckAfterMs(config, observation.labels.source)),
  ].filter((result): result is RuleResult => result !== undefined);
}

/** A rule's alert stopped applying (a renewal, say): one resolved notice, built from what was announced. */
function resolution(rule: string, mark: AlertMark, object: StoredObject): Alert {
  const { observation } = object;
  // Say what changed: a renewal moved the expiry; a certificate taken out of service simply stopped mattering.
  const why =
    observation.status === "inactive"
      ? "; deactivated, no longer in use"
      : observation.notAfter
        ? `; now valid until ${observation.notAfter.slice(0, 10)}`
        : "";
  return {
    fingerprint: `${rule}:${observation.key}`,
    rule,
    stage: "resolved",
    episode: mark.episode,
    // The severity it was announced with, so that routes by severity send the all-clear where the alarm went.
    severity: mark.severity,
    summary: `resolved (was ${mark.stage}${why})`,
    object: observation,
    transition: "resolved",
  };
}

/**
 * Decides what is news for one object, purely from its stored marks and the clock. A stage is news when it is
 * the first of its episode or more severe than the one announced; anything else is a repetition and stays quiet.
 */
export function evaluateObject(object: StoredObject, now: Date, config: Config): Evaluation {
  const marks = { ...object.alerts };
  const alerts: Alert[] = [];
  const silenced: Evaluation["silenced"] = [];
  const activeSilence = (alert: RuleResult) =>
    config.silences.find(
      (silence) => Date.parse(silence.until) > now.getTime() && matches(silence.match, alert),
    );

  const results = currentResults(object, now, config);
  for (const result of results) {
    const mark = marks[result.rule];
    const sameEpisode = mark?.episode === result.episode;
    if (sameEpisode && stageRank(result.stage) <= stageRank(mark.stage)) continue;
    const alert: Alert = { ...result, transition: sameEpisode ? "escalated" : "new" };
    const silence = activeSilence(alert);
    if (silence) {
      silenced.push({ alert, reason: silence.reason });
      continue;
    }
    alerts.push(alert);
    marks[result.rule] = {
      stage: result.stage,
      episode: result.episode,
      severity: result.severity,
      at: now.toISOString(),
    };
  }
  const stillFiring = new Set(results.map((result) => result.rule));
  for (const [rule, mark] of Object.entries(object.alerts)) {
    if (stillFiring.has(rule)) continue;
    delete marks[rule];
    // An expiry that gives way to a revocation is superseded, not resolved: nothing was fixed.
    if (results.length === 0) alerts.push(resolution(rule, mark, object));
  }
  return { alerts, silenced, marks };
}
