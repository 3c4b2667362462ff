import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkConfigFile, ConfigError, parseConfig } from "../lib/config/load.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";

/** Every config needs a receiver: one that routes alerts nowhere is refused. */
const RECEIVERS = `receivers:
  - { name: ops, type: slack, webhookUrl: "https://hooks.slack.com/services/T0/B0/base" }
`;

const base = (
  credentials: string,
  endpoint = "https://scm.ap-southeast-1.myhuaweicloud.com",
  receivers = RECEIVERS,
) => `${receivers}
sources:
  - name: hw-prod
    type: huawei-scm
    endpoint: ${endpoint}
    credentials: ${credentials}
`;

async function problems(text: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  try {
    await parseConfig(text, "certwatch.yml", { env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("config", () => {
  it("the shipped certwatch.example.yml is a valid config, automation off by default", async () => {
    const text = await readFile(new URL("../certwatch.example.yml", import.meta.url), "utf8");
    // Every ${env:NAME} the example uses: a URL where the key wants one, any text elsewhere.
    const env = new Proxy({} as NodeJS.ProcessEnv, {
      get: (_, name) =>
        String(name).endsWith("_URL") ? "https://hooks.example.com/x" : `value-of-${String(name)}`,
    });
    const config = await parseConfig(text, "certwatch.example.yml", { env });
    expect(config.remediation).toEqual({ window: "24h", redeployFailedWorkers: false, maxJobsPerRun: 5 });
  });

  it("applies documented defaults", async () => {
    const config = await parseConfig(base("{ accessKey: AK, secretKey: SK }"), "c.yml", { env: {} });
    expect(config.store).toMatchObject({ type: "embedded", path: ".certwatch", table: "certwatch" });
    expect(config.alerts).toMatchObject({ expiryThresholdsDays: [30, 14, 7, 1], criticalWithinDays: 7 });
    expect(config.sources[0]).toMatchObject({ timezone: "+08:00" });
  });

  it("names the key path of a missing secret", async () => {
    expect(await problems(base("{ accessKey: AK }"))).toEqual(["sources[0].credentials.secretKey: required"]);
  });

  it("a silence ends at an ISO time or after a span such as 3d; anything else is refused, naming the key", async () => {
    const silence = (until: string) =>
      `${base("{ accessKey: AK, secretKey: SK }")}silences:\n  - { match: { domain: "*.staging.example.com" }, until: "${until}", reason: throwaway }\n`;
    expect(await problems(silence("2027-01-01T00:00:00Z"))).toEqual([]);
    expect(await problems(silence("3d"))).toEqual([]);
    expect(await problems(silence("next week"))).toEqual([
      'silences[0].until: "next week" is neither an ISO time such as 2027-01-01T00:00:00Z nor a span such as 3d',
    ]);
  });

  it("a source with several endpoints is one sweep unit per endpoint, named <name>.<n>, labelled with its region", async () => {
    const text = `${RECEIVERS}
sources:
  - name: ali-ssl
    type: aliyun-ssl-certificates
    endpoints:
      - https://cas.aliyuncs.com
      - { url: "https://cas.ap-southeast-1.aliyuncs.com", region: ap-southeast-1 }
    credentials: { accessKey: AK, secretKey: SK }
  - name: ali-pki
    type: aliyun-client-certificates
    endpoints: [https://cas.eu-central-1.aliyuncs.com]
    region: eu-central-1
    credentials: { accessKey: AK, secretKey: SK }
`;
    const config = await parseConfig(text, "c.yml", { env: {} });
    expect(
      config.sources.map((source) => ({
        name: source.name,
        configuredName: source.configuredName,
        endpoint: source.endpoint,
        region: "region" in source ? source.region : undefined,
      })),
    ).toEqual([
      {
        name: "ali-ssl",
        configuredName: "ali-ssl",
        endpoint: "https://cas.aliyuncs.com",
        region: undefined,
      },
      {
        name: "ali-ssl.2",
        configuredName: "ali-ssl",
        endpoint: "https://cas.ap-southeast-1.aliyuncs.com",
        region: "ap-southeast-1",
      },
      {
        name: "ali-pki",
        configuredName: "ali-pki",
        endpoint: "https://cas.eu-central-1.aliyuncs.com",
        region: "eu-central-1",
      },
    ]);
    for (const source of config.sources) expect(source).not.toHaveProperty("endpoints");
  });

  it("needs exactly one of endpoint and endpoints, and a region per endpoint when there are several", async () => {
    const source = (lines: string) => `${RECEIVERS}
sources:
  - name: ali-ssl
    type: aliyun-ssl-certificates
    credentials: { accessKey: AK, secretKey: SK }
${lines}`;
    const exactlyOne =
      "sources[0].endpoint: give endpoint, or endpoints for several sites or regions (exactly one of them)";
    expect(await problems(source(""))).toEqual([exactlyOne]);
    expect(
      await problems(
        source("    endpoint: https://cas.aliyuncs.com\n    endpoints: [https://cas.aliyuncs.com]"),
      ),
    ).toEqual([exactlyOne]);
    expect(await problems(source("    endpoints: []"))).toEqual([
      "sources[0].endpoints: Too small: expected array to have >=1 items",
    ]);
    expect(
      await problems(
        source(
          "    region: cn-hangzhou\n    endpoints: [https://cas.aliyuncs.com, https://cas.ap-southeast-1.aliyuncs.com]",
        ),
      ),
    ).toEqual([
      "sources[0].region: one region cannot label several endpoints: give each its own, endpoints: [{ url, region }]",
    ]);
    expect(
      await problems(
        source(
          "    endpoints: [https://cas.aliyuncs.com, https://CAS.aliyuncs.com/, https://cas.ap-southeast-1.aliyuncs.com]",
        ),
      ),
    ).toEqual([
      "sources[0].endpoints[1]: the same endpoint as endpoints[0]: it would be swept, and announced, twice",
    ]);
    expect(await problems(source("    endpoints: [http://cas.example.com]"))).toEqual([
      "sources[0].endpoints[0]: must start with https:// (http:// is allowed only on loopback)",
    ]);
  });

  it("accepts a token instead of an AK/SK pair", async () => {
    expect(await problems(base("{ token: abcdefabcdef }"))).toEqual([]);
  });

  it("resolves ${env:NAME} and names the path when the variable is unset", async () => {
    const text = base("{ accessKey: '${env:HW_AK}', secretKey: '${env:HW_SK}' }");
    const config = await parseConfig(text, "c.yml", { env: { HW_AK: "ak-1", HW_SK: "sk-1" } });
    expect(config.sources[0]?.credentials).toEqual({ accessKey: "ak-1", secretKey: "sk-1" });
    expect(await problems(text, { HW_AK: "ak-1" })).toEqual([
      "sources[0].credentials.secretKey: environment variable HW_SK is not set",
    ]);
  });

  it("names the path of an ${ssm:...} reference nothing can resolve", async () => {
    expect(await problems(base("{ accessKey: AK, secretKey: '${ssm:/certwatch/sk}' }"))).toEqual([
      "sources[0].credentials.secretKey: ${ssm:/certwatch/sk} cannot be resolved here (no SSM access)",
    ]);
  });

  it("offline, checks the schema alone: references stand wherever text may, and every other problem is named", async () => {
    const dir = await mkdtemp(join(tmpdir(), "certwatch-config-"));
    const file = join(dir, "certwatch.yml");
    const check = async (text: string) => {
      await writeFile(file, text);
      return checkConfigFile(file).then(
        () => [],
        (error: ConfigError) => error.problems,
      );
    };
    try {
      const slack =
        'receivers:\n  - { name: ops, type: slack, webhookUrl: "${ssm:/certwatch/prod/slack}" }\n';
      const deployed = base(
        "{ accessKey: '${env:HW_AK}', secretKey: '${ssm:/certwatch/prod/sk}' }",
        undefined,
        slack,
      );
      expect(await check(deployed)).toEqual([]);
      expect(await check(`${deployed}    qps: "\${env:QPS}"\n    retries: 3\n`)).toEqual([
        "sources[0].qps: Invalid input: expected number, received string",
        "sources[0].retries: unknown key",
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects unknown keys, naming each", async () => {
    const text = `${base("{ accessKey: AK, secretKey: SK }")}    retries: 3\nalerts:\n  thresholds: [1]\n`;
    expect(await problems(text)).toEqual([
      "sources[0].retries: unknown key",
      "alerts.thresholds: unknown key",
    ]);
  });

  it("requires https endpoints except on loopback", async () => {
    expect(await problems(base("{ accessKey: AK, secretKey: SK }", "http://scm.example.com"))).toEqual([
      "sources[0].endpoint: must start with https:// (http:// is allowed only on loopback)",
    ]);
    expect(await problems(base("{ accessKey: AK, secretKey: SK }", "http://127.0.0.1:8080"))).toEqual([]);
    expect(await problems(base("{ accessKey: AK, secretKey: SK }", "http://localhost:8080"))).toEqual([]);
  });

  it("names an unknown source type and a bad timezone", async () => {
    const unknownType = base("{ accessKey: AK, secretKey: SK }").replace("huawei-scm", "huawei-nope");
    expect((await problems(unknownType))[0]).toMatch(/^sources\[0\]\.type: /);
    const badZone = `${base("{ accessKey: AK, secretKey: SK }")}    timezone: Asia/Shanghai\n`;
    expect(await problems(badZone)).toEqual(["sources[0].timezone: a fixed offset such as +08:00 or Z"]);
  });

  it("checks that routes name existing receivers and that names are unique", async () => {
    const text = `${base("{ accessKey: AK, secretKey: SK }")}
  - name: hw-prod
    type: huawei-scm
    endpoint: https://scm.cn-north-4.myhuaweicloud.com
    credentials: { token: abcdefabcdef }
routes:
  - match: { severity: critical }
    receivers: [pager]
`;
    expect(await problems(text)).toEqual([
      "sources[1].name: duplicate name hw-prod",
      "routes[0].receivers[0]: no receiver named pager",
    ]);
  });

  it("reports YAML syntax errors with the line, and the usual cause of unquoted references", async () => {
    expect((await problems("sources: [\n  {name: x\n"))[0]).toMatch(/^YAML syntax error at line \d+/);
    const unquoted = base("{ accessKey: ${env:HW_AK}, secretKey: ${env:HW_SK} }");
    expect(await problems(unquoted)).toContain('hint: inside { } mappings, quote references: "${env:NAME}"');
  });

  it("an email receiver sends through exactly one of smtp and ses", async () => {
    const mail = (transport: string) =>
      base(
        "{ accessKey: AK, secretKey: SK }",
        undefined,
        `receivers:\n  - { name: m, type: email, from: a@b.c, to: [d@e.f]${transport} }\n`,
      );
    expect(await problems(mail(""))).toEqual(["receivers[0].smtp: give either smtp or ses (exactly one)"]);
    expect(await problems(mail(", ses: { region: ap-southeast-1 }"))).toEqual([]);
    expect(await problems(mail(", ses: {}, smtp: { host: mail }"))).toEqual([
      "receivers[0].smtp: give either smtp or ses (exactly one)",
    ]);
  });

  it("refuses values that would break a run later: a zero span, a call budget near zero, a bad table name", async () => {
    const text = (extra: string, store = "") => `${store}
${RECEIVERS}
sources:
  - name: hw-prod
    type: huawei-scm
    endpoint: https://scm.ap-southeast-1.myhuaweicloud.com
    credentials: { accessKey: AK, secretKey: SK }
${extra}`;
    expect(await problems(text("    timeout: 0ms"))).toEqual([
      "sources[0].timeout: a duration above zero, such as 90s, 15m, 24h or 7d",
    ]);
    expect(await problems(text("    qps: 0.000001"))).toEqual([
      "sources[0].qps: at least 0.1 calls per second",
    ]);
    expect(await problems(text("alerts: { repeatCritical: 0h }"))).toEqual([
      "alerts.repeatCritical: a duration above zero, such as 90s, 15m, 24h or 7d",
    ]);
    expect(await problems(text("", 'store: { type: dynamodb, table: "bad table!" }'))).toEqual([
      "store.table: 3 to 255 letters, digits, underscores, dots and dashes",
    ]);
    expect(await problems(text("    qps: 2.5\n    timeout: 500ms"))).toEqual([]);
    expect(await problems(text("    maxPages: 0\n    timeBudget: 0s"))).toEqual([
      "sources[0].maxPages: at least 1 page",
      "sources[0].timeBudget: a duration above zero, such as 90s, 15m, 24h or 7d",
    ]);
    expect(await problems(text("    maxPages: 50000\n    timeBudget: 9m"))).toEqual([]);
  });

  it("never repeats a bad value that may be a secret", async () => {
    const text = `${base(
      "{ accessKey: AK, secretKey: SK }",
      undefined,
      'receivers:\n  - { name: s, type: slack, webhookUrl: "hooks.slack.com/services/T0/B0/SECRET" }\n',
    )}store: { type: dynamodb, endpoint: "http://10.0.0.5:8000" }
`;
    const found = await problems(text);
    expect(found).toEqual([
      "store.endpoint: must start with https:// (http:// is allowed only on loopback)",
      "receivers[0].webhookUrl: not a URL",
    ]);
  });

  it("knows which values are secrets, and the redactor hides them", async () => {
    const config = await parseConfig(
      base(
        "{ accessKey: AK, secretKey: very-secret-sk }",
        undefined,
        `receivers:
  - { name: s, type: slack, webhookUrl: "https://hooks.slack.com/services/T/B/zzzz" }
  - { name: m, type: email, from: a@b.c, to: [d@e.f], smtp: { host: mail, user: u, pass: smtp-password } }
`,
      ),
      "c.yml",
      { env: {} },
    );
    const redact = makeRedactor(secretValues(config));
    const text = "sk=very-secret-sk url=https://hooks.slack.com/services/T/B/zzzz pass=smtp-password ak=AK";
    expect(redact(text)).toBe("sk=*** url=*** pass=*** ak=AK");
  });

  it("the redactor hides each part of a secret a server may echo alone, in each form, and leaves words alone", () => {
    const redact = makeRedactor([
      "https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/XyZ0123456789abcdefGHIJ",
      "https://robot.example.com/send?access_token=0f1e2d3c&format=json",
      "https://user:pa55w0rd-x@hooks.example.com/in",
      "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
      "sts/token+with=slashes",
    ]);
    const echoes: [string, string][] = [
      ["404 /services/T0AB12CD3/B0EF45GH6/XyZ0123456789abcdefGHIJ", "404 ***"],
      ["next=%2Fservices%2FT0AB12CD3%2FB0EF45GH6%2FXyZ0123456789abcdefGHIJ", "next=***"],
      ["next=%2fservices%2fT0AB12CD3%2fB0EF45GH6%2fXyZ0123456789abcdefGHIJ", "next=***"],
      ['{"path":"\\/services\\/T0AB12CD3\\/B0EF45GH6\\/XyZ0123456789abcdefGHIJ"}', '{"path":"***"}'],
      ["no hook XyZ0123456789abcdefGHIJ in team T0AB12CD3", "no hook *** in team ***"],
      ["bad token 0f1e2d3c; format json", "bad token ***; format json"],
      ["login pa55w0rd-x refused", "login *** refused"],
      ["Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: ***"],
      ["token eyJhbGciOiJIUzI1NiJ9.e30.sig expired", "token *** expired"],
      ["SecurityToken=sts%2Ftoken%2Bwith%3Dslashes", "SecurityToken=***"],
      ["the services, the hooks and the send were fine", "the services, the hooks and the send were fine"],
    ];
    for (const [echoed, shown] of echoes) expect(redact(echoed)).toBe(shown);
  });

  it("refuses a config that routes alerts nowhere, naming the key", async () => {
    const sources = base("{ accessKey: AK, secretKey: SK }", undefined, "");
    expect(await problems(sources)).toEqual([
      "receivers: no receiver: every alert would be recorded as announced, to nobody; configure at least one",
    ]);
    expect(await problems(`${sources}receivers: []\n`)).toEqual([
      "receivers: no receiver: every alert would be recorded as announced, to nobody; configure at least one",
    ]);
    const routed = base("{ accessKey: AK, secretKey: SK }");
    expect(
      await problems(
        `${routed}routes: [{ match: { severity: critical }, receivers: [ops] }]\ndefaultReceivers: []\n`,
      ),
    ).toEqual([
      "defaultReceivers: empty: alerts no route matches would go to no receiver; name at least one, or leave the key out to send them to every receiver",
    ]);
    expect(await problems(`${routed}routes: [{ match: { severity: critical }, receivers: [] }]\n`)).toEqual([
      "routes[0].receivers: empty: the alerts this route matches would go to no receiver; name at least one",
    ]);
    expect(await problems(`${routed}defaultReceivers: [pager]\n`)).toEqual([
      "defaultReceivers[0]: no receiver named pager",
    ]);
  });
});
