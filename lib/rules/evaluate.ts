import type { Config } from "../config/schema.js";
import { configuredUnitOf } from "../config/units.js";
import type { IndexedObject } from "../store/hostnames.js";
import { matches } from "../model/match.js";
import { DAY_MS, parseDuration } from "../model/time.js";
import { shared } from "../model/shared.js";
import type {
  Ack,
  Alert,
  AlertMark,
  AlertState,
  Observation,
  RuleResult,
  StoredObject,
} from "../model/types.js";
import { pemFactsOf } from "../sources/pem-facts.js";
import { contentResults } from "./content.js";
import { deploymentAlert } from "./deployment.js";
import { expiryAlert, revocationAlert, stageRank } from "./expiry.js";
import { endpointResults } from "./served.js";

export interface EvaluateContext {
  now: Date;
  config: Config;
  /** Acknowledgements by fingerprint. */
  acks: ReadonlyMap<string, Ack>;
}

export interface Evaluation {
  /** Alerts that are news in this run, one per rule at most. */
  alerts: Alert[];
  /** Alerts that would be news but a silence holds back; they are announced once the silence ends. */
  silenced: { alert: Alert; reason: string }[];
  /** Reminders an acknowledgement held back. */
  acknowledged: Alert[];
  /** The alert state after this run's news is recorded. */
  state: Required<AlertState>;
}

/** The source's `stuckAfter`; only deployment-job sources have workers, so others never ask. */
function stuckAfterMs(config: Config, sourceName: string): number {
  const source = configuredUnitOf(config.sources, sourceName);
  return (
    (source?.type === "aliyun-deployment-jobs" && parseDuration(source.stuckAfter)) ||
    Number.POSITIVE_INFINITY
  );
}

/**
 * Rules whose alert must neither repeat nor resolve on this observation: only a later success resolves a failed
 * worker (a retry in progress does not), and a revocation stands until a status says otherwise.
 */
/** An endpoint's rules that compare what it serves with the inventories (lib/rules/served.ts). */
const INVENTORY_RULES = ["not-deployed", "not-in-inventory"];

function heldRules(observation: Observation): Set<string> {
  const held = new Set<string>();
  if (observation.kind === "deployment-task" && observation.status === "pending") held.add("deployment");
  if (observation.status === "unknown") held.add("revocation");
  return held;
}

/**
 * An expiry's episode is the certificate's end. An end that moves by less than two days is the same certificate read
 * more precisely (a vendor that gave the date now gives the instant), not a renewal: it keeps the episode it was
 * announced under, and with it its acknowledgement, instead of being announced again as new.
 */
function continuing(before: AlertMark | undefined, result: RuleResult): RuleResult {
  if (!before || result.rule !== "expiry" || before.episode === result.episode) return result;
  const moved = Math.abs(Date.parse(result.episode) - Date.parse(before.episode));
  return moved < 2 * DAY_MS ? { ...result, episode: before.episode } : result;
}

/**
 * The alert state machine, shared by objects and sources. A result is news when it is the first of its episode or
 * more severe than the stage announced (new, escalated); a critical one that stays is repeated only when
 * `repeatCritical` says so and no acknowledgement holds it (reminder); a rule that stops firing resolves once.
 * Anything else is a repetition and stays quiet.
 */
function decide(
  previous: AlertState,
  results: RuleResult[],
  context: EvaluateContext,
  resolution: (rule: string, mark: AlertMark) => RuleResult,
  held: ReadonlySet<string> = new Set(),
  /** Rules that are independent of one another on this object: each one's fix is news whatever else fires. */
  independent = false,
): Evaluation {
  const { now, config } = context;
  const marks = { ...previous.alerts };
  const resolved = { ...previous.resolved };
  const evaluation: Evaluation = {
    alerts: [],
    silenced: [],
    acknowledged: [],
    state: { alerts: marks, resolved },
  };
  const repeatMs = config.alerts.repeatCritical ? parseDuration(config.alerts.repeatCritical) : undefined;
  const silenceFor = (alert: RuleResult) =>
    config.silences.find(
      (silence) => Date.parse(silence.until) > now.getTime() && matches(silence.match, alert),
    );
  // One string for every mark of the run, not one per alert.
  const markedAt = shared(now.toISOString());
  const mark = (result: RuleResult, reminders?: number): AlertMark => ({
    stage: result.stage,
    episode: result.episode,
    severity: result.severity,
    at: markedAt,
    ...(reminders ? { reminders } : {}),
  });

  for (const fresh of results) {
    const before = marks[fresh.rule];
    const result = continuing(before, fresh);
    const generation = resolved[result.rule] ?? 0;
    const sameEpisode = before?.episode === result.episode;
    let alert: Alert;
    if (!sameEpisode || stageRank(result.stage) > stageRank(before.stage)) {
      alert = { ...result, transition: sameEpisode ? "escalated" : "new", generation };
    } else {
      const due =
        repeatMs !== undefined &&
        result.severity === "critical" &&
        now.getTime() - Date.parse(before.at) >= repeatMs;
      if (!due) continue;
      const reminder = (before.reminders ?? 0) + 1;
      alert = { ...result, transition: "reminder", generation, reminder };
      const ack = context.acks.get(result.fingerprint);
      // An acknowledgement covers the stage and episode it was given for; anything newer is news again.
      const covered = ack?.stage === result.stage && ack.episode === result.episode;
      if (ack && covered && Date.parse(ack.until) > now.getTime()) {
        evaluation.acknowledged.push(alert);
        continue;
      }
    }
    const silence = silenceFor(alert);
    if (silence) {
      evaluation.silenced.push({ alert, reason: silence.reason });
      continue;
    }
    evaluation.alerts.push(alert);
    marks[result.rule] = mark(result, alert.reminder);
  }

  const stillFiring = new Set(results.map((result) => result.rule));
  for (const [rule, before] of Object.entries(previous.alerts)) {
    // Held: the rule cannot tell yet (a retried worker still running, a status that did not come back).
    if (stillFiring.has(rule) || held.has(rule)) continue;
    delete marks[rule];
    const generation = resolved[rule] ?? 0;
    resolved[rule] = generation + 1;
    // While another rule fires on the object the old one is superseded (an expiry by a revocation), not fixed.
    if (results.length === 0 || independent) {
      evaluation.alerts.push({
        ...resolution(rule, before),
        // The severity it was announced with, so that routes by severity send the all-clear where the alarm went.
        severity: before.severity,
        stage: "resolved",
        episode: before.episode,
        transition: "resolved",
        generation,
        resolvedFrom: before.stage,
      });
    }
  }
  return evaluation;
}

/**
 * Whether what a certificate holds still matters: it is in use (neither inactive, revoked nor past its end). So an
 * Identity Center rotation, or a revocation, ends a content warning about the certificate it retires.
 */
function inUse(observation: Observation, now: Date): boolean {
  const live = observation.status === "active" || observation.status === "unknown";
  return live && !(observation.notAfter && Date.parse(observation.notAfter) <= now.getTime());
}

function objectResults(observation: Observation, context: EvaluateContext, facts: ObjectFacts): RuleResult[] {
  const { now, config } = context;
  if (observation.kind === "endpoint") return endpointResults(observation, now, config.alerts, facts);
  // Inventories whose source returned a PEM keep its facts (lib/sources/pem-facts.ts), never the PEM.
  const pem = pemFactsOf(observation);
  return [
    expiryAlert(observation, now, config.alerts),
    revocationAlert(observation),
    deploymentAlert(observation, now, config.alerts, stuckAfterMs(config, observation.labels.source)),
    ...(pem && inUse(observation, now) ? contentResults(observation, pem, config.alerts) : []),
  ].filter((result): result is RuleResult => result !== undefined);
}

/**
 * Whether an object must be judged this sweep: something was announced on it, or a rule fires on it now (its next
 * stage has begun, a silence held it back). The rest, new, changed or not, are quiet: judging them would decide
 * nothing, so a sweep spends one pure rule check on each and no state, copy or write. An endpoint's rules read
 * other sources, which may have changed: it is always judged.
 */
export function needsJudging(object: StoredObject, context: EvaluateContext): boolean {
  return (
    object.observation.kind === "endpoint" ||
    Object.keys(object.alerts).length > 0 ||
    objectResults(object.observation, context, {}).length > 0
  );
}

/** Why an object's alert no longer applies, in words an on-call engineer checks against what they did. */
function resolvedBecause(observation: Observation, facts: ObjectFacts): string {
  const { replacement } = facts;
  if (facts.gone) return facts.goneBecause ?? "no longer listed by the source";
  if (replacement?.kind === "deployment-task") {
    return `redeployed successfully by job ${replacement.details?.job ?? "?"}, worker ${replacement.details?.worker ?? "?"}`;
  }
  if (replacement) {
    return `replaced by ${replacement.name} (${replacement.nativeId}), valid until ${replacement.notAfter?.slice(0, 10)}`;
  }
  if (observation.kind === "endpoint" && observation.status === "active") {
    return `the endpoint answers and serves a certificate valid until ${observation.notAfter?.slice(0, 10)}`;
  }
  if (observation.status === "inactive") return "deactivated, no longer in use";
  if (observation.status === "succeeded") return "deployed successfully";
  return observation.notAfter ? `now valid until ${observation.notAfter.slice(0, 10)}` : "no longer applies";
}

export interface ObjectFacts {
  /** What took this object's place in its source (see `replacementFinder`). */
  replacement?: Observation;
  /** The object is gone from a complete, trusted listing of its source. */
  gone?: boolean;
  /** Why it is gone, when more is known than its absence (its account left the organization). */
  goneBecause?: string;
  /** An endpoint's: the newest inventory certificate for its name, when it outlives what the endpoint serves. */
  newer?: IndexedObject;
  /** An endpoint's: the deployment jobs onto its name. */
  deployments?: readonly IndexedObject[];
  /** An endpoint's: no inventory holds what it serves, and its source asked to hear of that. */
  notInInventory?: boolean;
  /**
   * An endpoint's: the inventory could not be read this time. Its comparisons with the inventory neither fire nor
   * resolve: an unreadable index is no all-clear.
   */
  inventoryUnread?: boolean;
}

/**
 * Decides what is news for one object, purely from its stored state and the clock. A certificate that was
 * replaced, or that is gone, no longer alerts; what it had announced resolves.
 */
export function evaluateObject(
  object: StoredObject,
  context: EvaluateContext,
  facts: ObjectFacts = {},
): Evaluation {
  const { observation } = object;
  const results = facts.gone || facts.replacement ? [] : objectResults(observation, context, facts);
  const held = facts.gone ? new Set<string>() : heldRules(observation);
  if (facts.inventoryUnread && !facts.gone) for (const rule of INVENTORY_RULES) held.add(rule);
  return decide(
    object,
    results,
    context,
    (rule, before) => ({
      fingerprint: `${rule}:${observation.key}`,
      rule,
      stage: "resolved",
      episode: before.episode,
      severity: before.severity,
      summary: `resolved (was ${before.stage}); ${resolvedBecause(observation, facts)}`,
      object: observation,
    }),
    held,
    // An endpoint's rules stand each on its own: a handshake that works again is news while its expiry still fires.
    observation.kind === "endpoint",
  );
}

/** What a source's last sweeps say about certwatch's own view of it. */
export interface SourceHealth {
  name: string;
  provider: Observation["labels"]["provider"];
  ok: boolean;
  error?: string;
  consecutiveFailures: number;
  lastSuccessAt?: string;
  /** When the current run of failures began, for a stable episode. */
  failingSince?: string;
  /** The unit's own labels (an organization member's `account`, `accountName`; a site's `region`), for routes. */
  labels?: Record<string, string>;
}

function sourceObservation(health: SourceHealth): Observation {
  return {
    key: `${health.name}/source/${health.name}`,
    kind: "source",
    nativeId: health.name,
    name: `source ${health.name}`,
    domains: [],
    status: health.ok ? "active" : "failed",
    rawStatus: health.ok ? "ok" : (health.error ?? "failing"),
    details: {
      failures: String(health.consecutiveFailures),
      ...(health.lastSuccessAt ? { lastSuccessAt: health.lastSuccessAt } : {}),
    },
    labels: { ...health.labels, source: health.name, provider: health.provider },
  };
}

/**
 * Alerts about the monitor itself: a source that failed `sourceFailuresBeforeAlert` sweeps in a row (certwatch is
 * blind to it), and, when `staleAfter` is set, a source whose last good sweep is older than that.
 */
export function evaluateSource(
  health: SourceHealth,
  previous: AlertState,
  context: EvaluateContext,
): Evaluation {
  const { now, config } = context;
  const object = sourceObservation(health);
  const results: RuleResult[] = [];
  if (!health.ok && health.consecutiveFailures >= config.alerts.sourceFailuresBeforeAlert) {
    results.push({
      fingerprint: `source-health:${health.name}`,
      rule: "source-health",
      stage: "blind",
      episode: health.failingSince ?? health.lastSuccessAt ?? "never",
      severity: "warning",
      summary: `certwatch cannot see this source: ${health.consecutiveFailures} failed sweeps in a row; last error: ${health.error}`,
      object,
    });
  }
  const staleMs = config.alerts.staleAfter ? parseDuration(config.alerts.staleAfter) : undefined;
  const lastGood = health.lastSuccessAt ? Date.parse(health.lastSuccessAt) : undefined;
  if (staleMs !== undefined && lastGood !== undefined && now.getTime() - lastGood > staleMs) {
    results.push({
      fingerprint: `stale:${health.name}`,
      rule: "stale",
      stage: "stale",
      episode: health.lastSuccessAt ?? "never",
      severity: "warning",
      summary: `no good sweep since ${health.lastSuccessAt}; what certwatch knows of this source is getting old`,
      object,
    });
  }
  return decide(previous, results, context, (rule, before) => ({
    fingerprint: `${rule}:${health.name}`,
    rule,
    stage: "resolved",
    episode: before.episode,
    severity: before.severity,
    summary: `resolved (was ${before.stage}); source ${health.name} swept successfully again`,
    object,
  }));
}
