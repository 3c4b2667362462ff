/** The normalized shapes every source produces and every later stage consumes. No I/O here. */

/**
 * `source` stands for a configured source itself, for alerts about the monitor's own view of it; `deployment-job`
 * for the subject of a redeploy notice: the job certwatch created, or the job whose redeploy did not go through.
 */
export type ObjectKind =
  | "certificate"
  | "client-certificate"
  | "certificate-authority"
  | "deployment-task"
  | "deployment-job"
  | "source"
  /** A host and port probed over TLS: what it serves, and whether the handshake works. */
  | "endpoint";

export type Status =
  | "active"
  | "expired"
  | "revoked"
  | "inactive"
  | "pending"
  | "failed"
  | "rolled-back"
  | "succeeded"
  | "unknown";

export type Severity = "critical" | "warning" | "info";

export interface Labels {
  source: string;
  /** `tls`: what an endpoint serves, seen by certwatch itself rather than through a cloud's API. */
  provider: "huawei" | "aliyun" | "tls";
  account?: string;
  region?: string;
  product?: string;
  [name: string]: string | undefined;
}

/** One thing a source saw, as of one sweep. `key` is stable across sweeps: `source/kind/nativeId`. */
export interface Observation {
  key: string;
  kind: ObjectKind;
  nativeId: string;
  name: string;
  domains: string[];
  /** ISO 8601 UTC instants; absent when the vendor does not know yet (an unissued order). */
  notBefore?: string;
  notAfter?: string;
  status: Status;
  rawStatus: string;
  revokedAt?: string;
  /** When the vendor last changed the object (a deployment worker's GmtModified), for "stuck since" rules. */
  updatedAt?: string;
  /** An inactive certificate waiting to replace this one (Identity Center): the fix is to activate it. */
  successor?: { nativeId: string; notAfter: string };
  /**
   * Vendor facts worth showing in a message (job id, resource, certificate id); never used for matching. A CA's
   * `dependents` is how many known certificates chain to it, in decimal; absent when its source cannot tell.
   */
  details?: Record<string, string>;
  labels: Labels;
}

/** How an alert changed in this run: news worth one message each. A reminder repeats an unchanged critical one. */
export type Transition = "new" | "escalated" | "reminder" | "resolved";

/** What a rule says about one object right now. The stage is what makes it news: each stage is announced once. */
export interface RuleResult {
  /** `rule:objectKey` */
  fingerprint: string;
  rule: string;
  stage: string;
  /** Distinguishes one life of an object from the next, e.g. the notAfter the stage was computed from. */
  episode: string;
  severity: Severity;
  summary: string;
  object: Observation;
  daysLeft?: number;
}

export interface Alert extends RuleResult {
  transition: Transition;
  /** How many times this rule already resolved for the object: a later firing is a new alert, not a repeat. */
  generation: number;
  /** Reminders sent for this stage so far (reminder alerts only). */
  reminder?: number;
  /** Set while the object's source cannot be swept: the alert is computed from what was last seen then. */
  staleSince?: string;
  /** Set while the object is missing from its source's listing, not yet confirmed gone: computed as last seen. */
  missingSince?: string;
  /** Resolutions only: the stage that was announced before. */
  resolvedFrom?: string;
}

/**
 * The alert state of an object with no alert, shared by all of them rather than two objects each (a 100,000-object
 * sweep holds every one); frozen, since evaluation copies state rather than changing it.
 */
export const NO_STATE: Readonly<Record<string, never>> = Object.freeze({});

export const severityRank: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

export function objectKey(source: string, kind: ObjectKind, nativeId: string): string {
  return `${source}/${kind}/${nativeId}`;
}

/** The alert stage last announced for one rule of one object. */
export interface AlertMark {
  stage: string;
  episode: string;
  severity: Severity;
  /** When it was last announced (first time or reminder). */
  at: string;
  reminders?: number;
}

/** What an alert's marks and resolution counts look like wherever they are kept (an object, a source). */
export interface AlertState {
  alerts: Record<string, AlertMark>;
  /** Per rule, how many times it resolved; part of notification ids so a re-firing is never taken for a repeat. */
  resolved?: Record<string, number>;
}

/** An acknowledgement: someone saw the alert and wants no reminders for its current stage and episode until `until`. */
export interface Ack {
  fingerprint: string;
  stage: string;
  episode: string;
  until: string;
  reason: string;
  by: string;
  at: string;
}

/** An object as the store keeps it: the last observation, and which alert stages were announced for it. */
export interface StoredObject extends AlertState {
  observation: Observation;
  firstSeenAt: string;
  changedAt: string;
  /**
   * Set when a complete listing did not show the object: it may have been stepped over while the listing changed,
   * so nothing resolves until a look-up or a later complete listing confirms it gone.
   */
  missingSince?: string;
}

/** What is kept of an object confirmed gone, so that if it comes back it continues its own history. */
export interface GoneObject {
  key: string;
  firstSeenAt: string;
  goneAt: string;
  /** Its resolution counts: a returning object's alerts get ids no announcement of its earlier life used. */
  resolved: Record<string, number>;
}
