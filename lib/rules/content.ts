/*
 * Content checks: what a certificate holds, wherever its PEM is at hand (served leaves, and the facts Identity Center
 * and CAS client certificates keep of theirs: lib/sources/pem-facts.ts). Pure: facts in, findings out. Each check
 * is turned off in `alerts.contentChecks`.
 */
import type { AlertsConfig } from "../config/schema.js";
import { fit } from "../model/text.js";
import type { Observation, RuleResult } from "../model/types.js";
import { normalHost, type SanDisagreement, sanDisagreement } from "../sources/pem-facts.js";
import type { CertificateFacts } from "../sources/x509.js";

export { normalHost };

export type ContentCheck = keyof AlertsConfig["contentChecks"];

/**
 * What a check needs of a certificate. The SAN check needs its SANs, or the disagreement its collector already
 * found (an inventory observation keeps that, not the names).
 */
export type CheckedFacts = Pick<
  CertificateFacts,
  "keyType" | "keyBits" | "signatureAlgorithm" | "fingerprint"
> &
  Partial<Pick<CertificateFacts, "dnsNames" | "ipAddresses">> & { sanDisagreement?: SanDisagreement };

export interface ContentFinding {
  check: ContentCheck;
  /** The rule name alerts carry: one rule per check, so that each resolves on its own. */
  rule: string;
  summary: string;
}

/** NIST SP 800-131A: RSA under 2048 bits has been disallowed for signatures since 2013. */
export const MIN_RSA_BITS = 2048;

/** How many names a SAN finding lists before it only counts the rest: the message must stay readable. */
const NAMES_SHOWN = 3;

export const CONTENT_RULES: Record<ContentCheck, string> = {
  weakRsaKey: "weak-key",
  sha1Signature: "sha1-signature",
  sanMismatch: "san-mismatch",
};

function someNames(names: string[]): string {
  const shown = names.slice(0, NAMES_SHOWN).map((name) => fit(name, 80));
  const more = names.length - shown.length;
  return `${shown.join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
}

export function weakRsaKey(facts: CheckedFacts): string | undefined {
  if (facts.keyType !== "rsa" || facts.keyBits === undefined || facts.keyBits >= MIN_RSA_BITS)
    return undefined;
  return `RSA key of ${facts.keyBits} bits, under ${MIN_RSA_BITS}: clients refuse it or soon will; reissue with a stronger key`;
}

export function sha1Signature(facts: CheckedFacts): string | undefined {
  // MD5 is weaker still, and fails for the same reason.
  if (!/sha1|md5/i.test(facts.signatureAlgorithm)) return undefined;
  return `signed with ${facts.signatureAlgorithm}: browsers and most TLS libraries no longer accept SHA-1 signatures; reissue it`;
}

/** The SANs against the domains the source lists for the certificate: names one has and the other lacks. */
export function sanMismatch(facts: CheckedFacts, listedDomains: readonly string[]): string | undefined {
  const found =
    facts.sanDisagreement ??
    (facts.dnsNames && sanDisagreement([...facts.dnsNames, ...(facts.ipAddresses ?? [])], listedDomains));
  if (!found) return undefined;
  const { notInCertificate, notListed } = found;
  const parts = [
    ...(notInCertificate.length ? [`listed but not in the certificate: ${someNames(notInCertificate)}`] : []),
    ...(notListed.length ? [`in the certificate but not listed: ${someNames(notListed)}`] : []),
  ];
  return `SANs disagree with the listed domains (${parts.join("; ")})`;
}

/**
 * Every enabled check that finds something. `listedDomains` are the domains the source names for the certificate;
 * without them (an endpoint, whose names are checked by the hostname rule) the SAN check applies only to a
 * disagreement the facts already carry.
 */
export function contentFindings(
  facts: CheckedFacts,
  checks: AlertsConfig["contentChecks"],
  listedDomains: readonly string[] = [],
): ContentFinding[] {
  const found: [ContentCheck, string | undefined][] = [
    ["weakRsaKey", checks.weakRsaKey ? weakRsaKey(facts) : undefined],
    ["sha1Signature", checks.sha1Signature ? sha1Signature(facts) : undefined],
    ["sanMismatch", checks.sanMismatch ? sanMismatch(facts, listedDomains) : undefined],
  ];
  return found.flatMap(([check, summary]) =>
    summary ? [{ check, rule: CONTENT_RULES[check], summary }] : [],
  );
}

/** The findings as alerts on `object`: warnings, one episode per certificate (its fingerprint). */
export function contentResults(
  object: Observation,
  facts: CheckedFacts,
  alerts: AlertsConfig,
  listedDomains: readonly string[] = [],
): RuleResult[] {
  return contentFindings(facts, alerts.contentChecks, listedDomains).map((finding) => ({
    fingerprint: `${finding.rule}:${object.key}`,
    rule: finding.rule,
    stage: finding.check,
    episode: facts.fingerprint,
    severity: "warning",
    summary: finding.summary,
    object,
  }));
}
