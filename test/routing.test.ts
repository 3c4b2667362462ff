import { describe, expect, it } from "vitest";
import { configSchema } from "../lib/config/schema.js";
import type { Alert } from "../lib/model/types.js";
import { matches } from "../lib/model/match.js";
import { receiversFor } from "../lib/notify/route.js";
import { alert, observation } from "./fixtures.js";

const receivers = ["pager", "ops-mail", "deploy-team", "staging-log", "fallback"].map((name) => ({
  name,
  type: "slack",
  webhookUrl: `https://hooks.slack.com/services/T/B/${name}`,
}));

/** The config as written; `config` is what the schema makes of it. */
const written = {
  sources: [
    { name: "hw-prod", type: "huawei-scm", endpoint: "https://x.example.com", credentials: { token: "t" } },
  ],
  receivers,
  routes: [
    { match: { domain: "*.staging.example.com" }, receivers: ["staging-log"] },
    { match: { severity: "critical" }, receivers: ["pager"], continue: true },
    { match: { source: "ali-*", kind: "deployment-task" }, receivers: ["deploy-team"] },
    { match: { provider: "huawei", labels: { team: "web" } }, receivers: ["ops-mail"] },
    { match: { severity: "critical" }, receivers: ["ops-mail"] },
  ],
  defaultReceivers: ["fallback"],
};
const config = configSchema.parse(written);

function make(overrides: {
  severity?: Alert["severity"];
  source?: string;
  provider?: "huawei" | "aliyun";
  kind?: Alert["object"]["kind"];
  domains?: string[];
  team?: string;
}): Alert {
  const base = alert({ nativeId: "x", severity: overrides.severity ?? "warning" });
  const object = observation({
    nativeId: "x",
    kind: overrides.kind ?? "certificate",
    domains: overrides.domains ?? ["api.example.com"],
    labels: {
      source: overrides.source ?? "hw-prod",
      provider: overrides.provider ?? "huawei",
      ...(overrides.team ? { team: overrides.team } : {}),
    },
  });
  return { ...base, object };
}

describe("routing matrix", () => {
  it.each([
    [
      "a staging certificate, even critical, goes only to the staging log (first match wins)",
      make({ severity: "critical", domains: ["web.staging.example.com"] }),
      ["staging-log"],
    ],
    [
      "a critical one continues past the pager to the next match",
      make({ severity: "critical" }),
      ["pager", "ops-mail"],
    ],
    [
      "a critical deployment worker: pager, then the deploy team",
      make({ severity: "critical", source: "ali-deploy", provider: "aliyun", kind: "deployment-task" }),
      ["pager", "deploy-team"],
    ],
    ["a warning on a web team certificate in Huawei", make({ team: "web" }), ["ops-mail"]],
    ["a label that does not match falls through", make({ team: "data" }), ["fallback"]],
    [
      "a warning from Alibaba matching no route goes to defaultReceivers",
      make({ source: "ali-ssl", provider: "aliyun" }),
      ["fallback"],
    ],
  ])("%s", (_title, subject, expected) => {
    expect(receiversFor(subject, config)).toEqual(expected);
  });

  it("without routes every alert goes to every receiver; without defaultReceivers an unmatched one too", () => {
    const open = configSchema.parse({ ...written, routes: undefined, defaultReceivers: undefined });
    expect(receiversFor(make({}), open)).toEqual(receivers.map((r) => r.name));
    const noDefault = configSchema.parse({ ...written, defaultReceivers: undefined });
    expect(receiversFor(make({ source: "ali-ssl", provider: "aliyun" }), noDefault)).toEqual(
      receivers.map((r) => r.name),
    );
  });
});

describe("matching a source that has several endpoints", () => {
  it("a route or silence for the source covers every unit of it; one for a unit only that unit", () => {
    const forSource = { source: "team-ssl" };
    expect(matches(forSource, make({ source: "team-ssl" }))).toBe(true);
    expect(matches(forSource, make({ source: "team-ssl.2" }))).toBe(true);
    expect(matches(forSource, make({ source: "team-ssl-old" }))).toBe(false);
    const forUnit = { source: "team-ssl.2" };
    expect(matches(forUnit, make({ source: "team-ssl.2" }))).toBe(true);
    expect(matches(forUnit, make({ source: "team-ssl" }))).toBe(false);
    expect(matches({ source: "team-*" }, make({ source: "team-ssl.3" }))).toBe(true);
  });
});
