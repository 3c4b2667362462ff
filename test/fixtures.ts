import type { Alert, Observation } from "../lib/model/types.js";
import { type ScmCertificate, scmTime } from "../sim/fleet.js";

/** A certificate observation with sensible defaults, for tests that need one. */
export function observation(overrides: Partial<Observation> & { nativeId: string }): Observation {
  return {
    key: `hw-test/certificate/${overrides.nativeId}`,
    kind: "certificate",
    name: overrides.nativeId,
    domains: [`${overrides.nativeId}.example.com`],
    notAfter: "2026-12-01T00:00:00.000Z",
    status: "active",
    rawStatus: "ISSUED",
    labels: { source: "hw-test", provider: "huawei", product: "scm", region: "ap-southeast-1" },
    ...overrides,
  };
}

export function alert(overrides: Partial<Alert> & { nativeId: string; name?: string }): Alert {
  const object = observation({ nativeId: overrides.nativeId, name: overrides.name ?? overrides.nativeId });
  return {
    fingerprint: `expiry:${object.key}`,
    rule: "expiry",
    stage: "7d",
    episode: object.notAfter ?? "",
    severity: "critical",
    summary: "expires in 6 days (2026-12-01)",
    object,
    daysLeft: 6,
    transition: "new",
    generation: 0,
    ...overrides,
  };
}

/** A name full of what Slack mrkdwn and HTML must not interpret. */
export const HOSTILE_NAME = "<!channel> <script>alert(1)</script> & co";

const DAY_MS = 86_400_000;

/**
 * SCM certificate `n` (`cert-0000n`, `c<n>.example.com`), issued and ending `days` after `now` (expired if
 * negative), in the simulator's shape.
 */
export function scmCertificate(n: number, days: number, now: Date): ScmCertificate {
  return {
    id: `scs${String(n).padStart(13, "0")}`,
    name: `cert-${String(n).padStart(5, "0")}`,
    domain: `c${n}.example.com`,
    sans: "",
    type: "DV_SSL_CERT",
    brand: "GEOTRUST",
    signature_algorithm: "SHA256WITHRSA",
    deploy_support: true,
    expire_time: scmTime(new Date(now.getTime() + days * DAY_MS)),
    domain_type: "SINGLE_DOMAIN",
    validity_period: 12,
    status: days < 0 ? "EXPIRED" : "ISSUED",
    domain_count: 1,
    wildcard_count: 0,
  };
}
