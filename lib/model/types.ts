/** The normalized shapes every source produces and every later stage consumes. No I/O here. */

export type ObjectKind = "certificate" | "client-certificate" | "deployment-task";

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
  provider: "huawei" | "aliyun";
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
  /** Vendor facts worth showing in a message (job id, resource, certificate id); never used for matching. */
  details?: Record<string, string>;
  labels: Labels;
}

/** How an alert changed in this run: news worth one message each. */
export type Transition = "new" | "escalated" | "resolved";

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
}

export const severityRank: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

export function objectKey(source: string, kind: ObjectKind, nativeId: string): string {
  return `${source}/${kind}/${nativeId}`;
}

/** The alert stage last announced for one rule of one object. */
export interface AlertMark {
  stage: string;
  episode: string;
  severity: Severity;
  at: string;
}

/** An object as the store keeps it: the last observation, and which alert stages were announced for it. */
export interface StoredObject {
  observation: Observation;
  firstSeenAt: string;
  changedAt: string;
  alerts: Record<string, AlertMark>;
}
