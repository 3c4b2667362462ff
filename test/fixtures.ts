import type { Alert, Observation } from "../lib/model/types.js";

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
