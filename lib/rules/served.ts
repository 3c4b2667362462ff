/*
 * Rules about what an endpoint serves (observations of kind `endpoint`, lib/sources/tls/endpoints.ts): the served
 * certificate's expiry, an intermediate that expires before it, a hostname it does not cover, the content checks,
 * and the handshake's own health. Pure: the observation and the clock in, results out.
 */
import { isIP } from "node:net";
import type { AlertsConfig } from "../config/schema.js";
import { fit, shellWord } from "../model/text.js";
import type { Observation, RuleResult } from "../model/types.js";
import type { IndexedObject } from "../store/hostnames.js";
import { servedDetails } from "../sources/tls/served.js";
import { contentResults, normalHost } from "./content.js";
import { expiryAlert } from "./expiry.js";

/** Subjects in summaries are cut so that the dates after them stay in view. */
const SUBJECT_IN_SUMMARY = 120;

/**
 * Whether a certificate's SANs cover `hostname`, as RFC 6125 and browsers read them: an exact name, or a wildcard
 * that is the whole left-most label and stands for exactly one label (`*.example.com` covers `www.example.com`, not
 * `example.com` nor `a.b.example.com`). An IP address is covered only by the same IP SAN. The subject's CN is not
 * read: browsers ignore it since SANs became mandatory.
 */
export function covers(sans: readonly string[], hostname: string): boolean {
  const host = normalHost(hostname);
  const names = sans.map(normalHost);
  if (names.includes(host)) return true;
  if (isIP(host)) return false;
  const [first, ...rest] = host.split(".");
  if (!first || rest.length < 2) return false;
  return names.includes(`*.${rest.join(".")}`);
}

/**
 * The names clients reach the endpoint by: its SNI name and its host, once each. A host that is an IP address
 * beside another SNI name only says where to connect.
 */
function expectedNames(observation: Observation): string[] {
  const { host, serverName } = observation.details ?? {};
  const hostIsName = host !== undefined && (!isIP(host) || serverName === undefined || host === serverName);
  const names = [serverName, ...(hostIsName ? [host] : [])];
  return [...new Set(names.filter((name): name is string => Boolean(name)).map(normalHost))];
}

/**
 * The served certificate's expiry on the same stages as any certificate. A failing endpoint is judged on what it
 * served last: a certificate that expires while nobody can reach the endpoint still expires.
 */
function servedExpiry(observation: Observation, now: Date, alerts: AlertsConfig): RuleResult | undefined {
  const result = expiryAlert({ ...observation, status: "active" }, now, alerts);
  return result && { ...result, object: observation };
}

/**
 * The first intermediate (not a self-issued root, which the client's own trust store supplies) that expires before
 * the leaf. Its stage follows the expiry thresholds once it is near; before that it is `before-leaf`, a warning.
 */
function chainExpiry(observation: Observation, now: Date, alerts: AlertsConfig): RuleResult | undefined {
  const served = servedDetails(observation);
  if (!served) return undefined;
  const leafEnd = Date.parse(served.leaf.notAfter);
  const early = served.chain
    .filter((certificate) => !certificate.selfIssued && Date.parse(certificate.notAfter) < leafEnd)
    .sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter))[0];
  if (!early) return undefined;
  const near = expiryAlert({ ...observation, status: "active", notAfter: early.notAfter }, now, alerts);
  const subject = fit(early.subject, SUBJECT_IN_SUMMARY);
  const when = near?.stage === "expired" ? "expired" : "expires";
  return {
    fingerprint: `chain-expiry:${observation.key}`,
    rule: "chain-expiry",
    stage: near?.stage ?? "before-leaf",
    episode: early.fingerprint,
    severity: near?.severity ?? "warning",
    summary:
      `intermediate ${subject} in the served chain ${when} ${early.notAfter.slice(0, 10)}, before the certificate ` +
      `it signs (${served.leaf.notAfter.slice(0, 10)}): clients fail when it does`,
    object: observation,
    ...(near?.daysLeft === undefined ? {} : { daysLeft: near.daysLeft }),
  };
}

/** Each name clients use that the served certificate does not cover: browsers refuse the connection. */
function hostnameNotCovered(observation: Observation): RuleResult | undefined {
  const served = servedDetails(observation);
  if (!served) return undefined;
  const uncovered = expectedNames(observation).filter((name) => !covers(observation.domains, name));
  if (uncovered.length === 0) return undefined;
  return {
    fingerprint: `hostname:${observation.key}`,
    rule: "hostname",
    stage: "not-covered",
    episode: served.leaf.fingerprint,
    severity: "critical",
    summary: `serves a certificate that does not cover ${uncovered.join(" nor ")}`,
    object: observation,
  };
}

/** A handshake failing `sourceFailuresBeforeAlert` times in a row; the next good one resolves it. */
function handshakeFailing(observation: Observation, alerts: AlertsConfig): RuleResult | undefined {
  if (observation.status !== "failed") return undefined;
  const failures = Number(observation.details?.failures ?? "0");
  if (failures < alerts.sourceFailuresBeforeAlert) return undefined;
  return {
    fingerprint: `handshake:${observation.key}`,
    rule: "handshake",
    stage: "failing",
    episode: observation.details?.failingSince ?? "failing",
    severity: "warning",
    summary: `${failures} failed handshakes in a row; last: ${observation.details?.error ?? "unknown error"}`,
    object: observation,
  };
}

/**
 * Renewed but not deployed: the endpoint serves a certificate that ends before the newest one the inventories hold
 * for its name. Critical once what is served is itself critical; resolved when the endpoint serves the newer one.
 */
function notDeployed(
  observation: Observation,
  now: Date,
  alerts: AlertsConfig,
  newer: IndexedObject | undefined,
  deployments: readonly IndexedObject[] = [],
): RuleResult | undefined {
  const served = servedDetails(observation);
  if (!served || !newer?.notAfter) return undefined;
  const near = expiryAlert({ ...observation, status: "active" }, now, alerts);
  const servedName = fit(served.leaf.subject, SUBJECT_IN_SUMMARY);
  const held = fit(`${newer.name} (${newer.nativeId})`, SUBJECT_IN_SUMMARY);
  // Where the old one was put, and, for a CAS certificate, the command that pushes the newer one over it.
  const casCertificate = newer.provider === "aliyun" && /^\d+$/.test(newer.nativeId);
  const where = deployments.map((deployment) => {
    const job = `CAS job ${deployment.jobId} deployed ${fit(deployment.name, SUBJECT_IN_SUMMARY)} (${deployment.status}, source ${deployment.source})`;
    if (!casCertificate || deployment.provider !== "aliyun" || !deployment.jobId) return job;
    return (
      `${job}: certwatch redeploy --source ${shellWord(deployment.source)} --job ${shellWord(deployment.jobId)} ` +
      `--all-workers --cert ${shellWord(newer.nativeId)}`
    );
  });
  return {
    fingerprint: `not-deployed:${observation.key}`,
    rule: "not-deployed",
    stage: "not-deployed",
    episode: `${served.leaf.fingerprint}>${newer.key}`,
    severity: near?.severity === "critical" ? "critical" : "warning",
    summary:
      `renewed but not deployed: serves ${servedName}, valid until ${served.leaf.notAfter.slice(0, 10)}, while ` +
      `source ${newer.source} holds ${held}, valid until ${newer.notAfter.slice(0, 10)}, for ${newer.hostname}: ` +
      "deploy the newer certificate to this endpoint" +
      (where.length > 0 ? `; for this name, ${where.join("; ")}` : ""),
    object: observation,
    ...(near?.daysLeft === undefined ? {} : { daysLeft: near.daysLeft }),
  };
}

/** A served certificate no inventory holds for the endpoint's name: nobody will be told when it nears its end. */
function unknownToInventory(observation: Observation): RuleResult | undefined {
  const served = servedDetails(observation);
  if (!served) return undefined;
  return {
    fingerprint: `not-in-inventory:${observation.key}`,
    rule: "not-in-inventory",
    stage: "unknown",
    episode: served.leaf.fingerprint,
    severity: "warning",
    summary:
      `serves ${fit(served.leaf.subject, SUBJECT_IN_SUMMARY)}, valid until ${served.leaf.notAfter.slice(0, 10)}, ` +
      "which no inventory certwatch sweeps holds for this name",
    object: observation,
  };
}

/**
 * What the inventories say of an endpoint (lib/cross-source.ts): a newer certificate, the deployments onto its name,
 * or none like the served one.
 */
export interface InventoryFacts {
  newer?: IndexedObject;
  deployments?: readonly IndexedObject[];
  notInInventory?: boolean;
}

/** Every rule that applies to an endpoint observation. */
export function endpointResults(
  observation: Observation,
  now: Date,
  alerts: AlertsConfig,
  inventory: InventoryFacts = {},
): RuleResult[] {
  const served = servedDetails(observation);
  return [
    servedExpiry(observation, now, alerts),
    notDeployed(observation, now, alerts, inventory.newer, inventory.deployments),
    inventory.notInInventory ? unknownToInventory(observation) : undefined,
    chainExpiry(observation, now, alerts),
    hostnameNotCovered(observation),
    handshakeFailing(observation, alerts),
    ...(served ? contentResults(observation, served.leaf, alerts) : []),
  ].filter((result): result is RuleResult => result !== undefined);
}
