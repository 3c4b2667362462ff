/**
 * Huawei credentials: an agency's temporary keys (IAM securitytokens, assume_role) through a full SCM sweep, their
 * expiry mid-sweep, an agency that does not trust the caller, and the SDK's environment variables.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../lib/cli/main.js";
import type { Output } from "../lib/cli/output.js";
import { parseConfig } from "../lib/config/load.js";
import type { SourceConfig } from "../lib/config/schema.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import {
  AgencyCredentials,
  baseCredential,
  needsRefresh,
  REFRESH_MARGIN_MS,
} from "../lib/sources/huawei/credentials.js";
import { huaweiScm } from "../lib/sources/huawei/scm.js";
import { runSweep } from "../lib/sweep.js";
import { TemporaryKeys } from "../sim/huawei-auth.js";
import { type IamSim, iamSimulator } from "../sim/huawei-iam.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { type Exchange, observeExchanges } from "../sim/server.js";
import { KEYS, Rig } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const HOUR = 3_600_000;
/** The account certwatch's own keys belong to, and the member account that delegates to it. */
const BASE_DOMAIN = "0b5e00000000000000000000000base01";
const MEMBER_DOMAIN = "0c4d00000000000000000000member01";
const OTHER_DOMAIN = "0d9a0000000000000000000000other1";
const AGENCY = "certwatch-reader";

type ScmSource = Extract<SourceConfig, { type: "huawei-scm" }>;

/** The SCM rig, its sweeps signed with an agency's temporary keys: SCM refuses the base keys themselves. */
class AgencyRig extends Rig {
  constructor(
    private readonly iamUrl: () => string,
    temporary: TemporaryKeys,
  ) {
    super(Rig.fleet(120, NOW), "", {
      credentials: { accessKey: "ANOTHERACCOUNTSKEY01", secretKey: "not-the-sweeps-secret" },
      temporary,
    });
  }

  agencyYaml(domainId: string): string {
    return (
      `{ accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey}, ` +
      `assumeAgency: { agencyName: ${AGENCY}, domainId: ${domainId}, endpoint: "${this.iamUrl()}" } }`
    );
  }

  override yaml(): string {
    return super
      .yaml()
      .replace(
        `{ accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }`,
        this.agencyYaml(MEMBER_DOMAIN),
      );
  }
}

function scmExchanges(exchanges: Exchange[]): Exchange[] {
  return exchanges.filter((exchange) => exchange.service === "huawei.scm");
}

describe("Huawei agency: temporary keys through a full SCM sweep", () => {
  /** How far the keys' clock runs ahead of the real one: moved to expire keys mid-sweep. */
  let aheadMs = 0;
  const temporary = new TemporaryKeys(() => Date.now() + aheadMs);
  let iam: IamSim;
  let iamUrl = "";
  const rig = new AgencyRig(() => iamUrl, temporary);
  const exchanges: Exchange[] = [];
  let stopObserving: () => void;

  beforeAll(async () => {
    iam = iamSimulator({
      accounts: [{ ...KEYS, domainId: BASE_DOMAIN }],
      agencies: [
        { domainId: MEMBER_DOMAIN, agencyName: AGENCY, trusts: [BASE_DOMAIN] },
        { domainId: OTHER_DOMAIN, agencyName: AGENCY, trusts: ["0e000000000000000000000someone1"] },
      ],
      temporary,
    });
    iamUrl = await iam.listen();
    await rig.start();
    stopObserving = observeExchanges((exchange) => exchanges.push(exchange));
  });
  afterEach(() => {
    exchanges.length = 0;
  });
  afterAll(async () => {
    stopObserving();
    await Promise.all([rig.stop(), iam.close()]);
  });

  it("assumes the agency once, then sweeps every page with the temporary keys, in the member account", async () => {
    const summary = await rig.sweep(NOW);
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 120, added: 120 });
    expect(iam.issued).toEqual([
      { agencyName: AGENCY, domainId: MEMBER_DOMAIN, by: BASE_DOMAIN, durationSeconds: 900 },
    ]);
    const [key] = temporary.list();
    const scm = scmExchanges(exchanges);
    expect(scm).toHaveLength(3);
    for (const { request, answer } of scm) {
      expect(answer.status).toBe(200);
      expect(request.headers.authorization).toContain(`Access=${key?.accessKey},`);
      expect(request.headers["x-security-token"]).toBe(key?.securityToken);
      expect(request.headers["x-domain-id"]).toBe(MEMBER_DOMAIN);
    }
    // The IAM call itself: signed with the base keys, the agency named in the body.
    const [call] = exchanges.filter((exchange) => exchange.service === "huawei.iam");
    expect(call?.answer.status).toBe(201);
    expect(call?.request.headers.authorization).toContain(`Access=${KEYS.accessKey},`);
    expect(JSON.parse(call?.request.body ?? "{}")).toEqual({
      auth: {
        identity: {
          methods: ["assume_role"],
          assume_role: { agency_name: AGENCY, domain_id: MEMBER_DOMAIN, duration_seconds: 900 },
        },
      },
    });
  });

  it("keys that are still good are reused: a second sweep asks IAM nothing", async () => {
    const summary = await rig.sweep(new Date(NOW.getTime() + HOUR));
    expect(summary.exitCode).toBe(0);
    expect(iam.issued).toHaveLength(1);
    expect(scmExchanges(exchanges).every((exchange) => exchange.answer.status === 200)).toBe(true);
  });

  it("keys that expire mid-sweep are renewed once and the refused pages asked again: nothing fails", async () => {
    // After the first page, IAM's clock passes the keys' expiry (900 s) while certwatch's does not.
    const stop = observeExchanges((exchange) => {
      if (exchange.service === "huawei.scm" && exchange.answer.status === 200) aheadMs = 901_000;
    });
    try {
      const summary = await rig.sweep(new Date(NOW.getTime() + 2 * HOUR));
      expect(summary.exitCode).toBe(0);
      expect(summary.sources[0]).toMatchObject({ ok: true, objects: 120, added: 0, gone: 0 });
    } finally {
      stop();
    }
    const statuses = scmExchanges(exchanges).map((exchange) => exchange.answer.status);
    expect(statuses.filter((status) => status === 401).length).toBeGreaterThan(0);
    expect(statuses.filter((status) => status === 200)).toHaveLength(3);
    const refused = scmExchanges(exchanges).find((exchange) => exchange.answer.status === 401);
    expect(refused?.answer.body).toMatchObject({ error_code: "APIGW.0301" });
    expect(JSON.stringify(refused?.answer.body)).toContain("token expires");
    // One more IAM call for the whole sweep, however many pages were refused at once.
    expect(iam.issued).toHaveLength(2);
  });

  it("an agency that does not trust certwatch's account fails that source alone, naming agency and domain", async () => {
    const yaml = rig.yaml().replace(
      "receivers:",
      `  - name: hw-untrusted
    type: huawei-scm
    endpoint: ${rig.scmUrl}
    credentials: ${rig.agencyYaml(OTHER_DOMAIN)}
    timeout: 2s
receivers:`,
    );
    const config = await parseConfig(yaml, "test.yml");
    const summary = await runSweep({
      config,
      store: rig.store,
      http: rig.http,
      now: new Date(NOW.getTime() + 3 * HOUR),
    });
    const byName = Object.fromEntries(summary.sources.map((source) => [source.name, source]));
    expect(byName["hw-test"]).toMatchObject({ ok: true, objects: 120 });
    expect(byName["hw-untrusted"]?.ok).toBe(false);
    expect(byName["hw-untrusted"]?.error).toContain(`agency ${AGENCY} in domain ${OTHER_DOMAIN}`);
    expect(byName["hw-untrusted"]?.error).toMatch(/HTTP 403/);
    expect(byName["hw-untrusted"]?.error).toMatch(/trusts the account of the source's keys/);
  });

  it("no secret (base secret key, temporary secret, security token) reaches --json output or the store", async () => {
    const dir = await mkdtemp(join(tmpdir(), "certwatch-hw-"));
    try {
      const file = join(dir, "certwatch.yml");
      await writeFile(
        file,
        `${rig.yaml()}\nstore: { type: dynamodb, endpoint: "${rig.dynamo.endpoint}", table: certwatch, region: us-east-1 }\n`,
      );
      const stdout: string[] = [];
      const output: Output = { out: (line) => stdout.push(line), err: () => undefined, isTTY: false };
      // Expire the keys the rig's runs hold, so that this run obtains (and holds) its own as well.
      aheadMs += 2_000_000;
      const code = await main(
        [
          "node",
          "certwatch",
          "sweep",
          "--json",
          "--config",
          file,
          "--now",
          new Date(NOW.getTime() + 4 * HOUR).toISOString(),
        ],
        output,
      );
      expect(code).toBe(0);
      const json = stdout.join("\n");
      expect(JSON.parse(json)).toMatchObject({ exitCode: 0 });
      const dynamo = new DynamoDBClient({
        endpoint: rig.dynamo.endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "local", secretAccessKey: "local" },
      });
      const items = JSON.stringify((await dynamo.send(new ScanCommand({ TableName: "certwatch" }))).Items);
      dynamo.destroy();
      expect(items.length).toBeGreaterThan(10_000);
      const secrets = [
        KEYS.secretKey,
        ...temporary.list().flatMap((key) => [key.secretKey, key.securityToken]),
      ];
      expect(secrets.length).toBeGreaterThanOrEqual(5);
      for (const secret of secrets) {
        expect(json).not.toContain(secret);
        expect(items).not.toContain(secret);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("temporary keys are renewed before they expire", () => {
  it("with less than 5 minutes or 10% of their lifetime left", () => {
    const short = { kind: "aksk", accessKey: "a", secretKey: "s", securityToken: "t" } as const;
    const start = 1_000_000;
    const fifteen = { ...short, obtainedAtMs: start, expiresAtMs: start + 900_000 };
    expect(needsRefresh(fifteen, start + 900_000 - REFRESH_MARGIN_MS - 1)).toBe(false);
    expect(needsRefresh(fifteen, start + 900_000 - REFRESH_MARGIN_MS + 1)).toBe(true);
    const day = { ...short, obtainedAtMs: start, expiresAtMs: start + 86_400_000 };
    expect(needsRefresh(day, start + 86_400_000 - 8_640_000 - 1)).toBe(false);
    expect(needsRefresh(day, start + 86_400_000 - 8_640_000 + 1)).toBe(true);
  });

  it("asks IAM again only once the margin is reached, and once for callers waiting together", async () => {
    let now = Date.now();
    const temporary = new TemporaryKeys(() => now);
    const iam = iamSimulator({
      accounts: [{ ...KEYS, domainId: BASE_DOMAIN }],
      agencies: [{ domainId: MEMBER_DOMAIN, agencyName: AGENCY, trusts: [BASE_DOMAIN] }],
      temporary,
    });
    const url = await iam.listen();
    const http = new HttpClient();
    try {
      const config = await parseConfig(
        `sources:
  - name: hw
    type: huawei-scm
    endpoint: https://scm.ap-southeast-1.myhuaweicloud.com
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
receivers: [{ name: hook, type: webhook, url: "https://hooks.example.com/x" }]`,
        "t.yml",
      );
      const source = config.sources[0] as ScmSource;
      const agency = { agencyName: AGENCY, domainId: MEMBER_DOMAIN, durationSeconds: 3600, endpoint: url };
      const provider = new AgencyCredentials(agency, baseCredential(source), () => now);
      const context = { http, stats: newCallStats(), previous: new Map(), warn: () => undefined };
      const [first, same] = await Promise.all([provider.get(source, context), provider.get(source, context)]);
      expect(same).toBe(first);
      expect(iam.issued).toHaveLength(1);
      expect(iam.issued[0]?.durationSeconds).toBe(3600);
      // An hour's keys: 10% of their lifetime (6 minutes) is more than the 5-minute margin, and holds.
      now += 3600_000 - 360_000 - 1_000;
      expect(await provider.get(source, context)).toBe(first);
      now += 2_000;
      const renewed = await provider.get(source, context);
      expect(renewed.accessKey).not.toBe(first.accessKey);
      expect(iam.issued).toHaveLength(2);
    } finally {
      await http.close();
      await iam.close();
    }
  });
});

describe("IAM securitytokens that throttles or fails", () => {
  const temporary = new TemporaryKeys();
  const iam = iamSimulator({
    accounts: [{ ...KEYS, domainId: BASE_DOMAIN }],
    agencies: [{ domainId: MEMBER_DOMAIN, agencyName: AGENCY, trusts: [BASE_DOMAIN] }],
    temporary,
  });
  const http = new HttpClient();
  let source: ScmSource;
  let agency: { agencyName: string; domainId: string; endpoint: string };

  beforeAll(async () => {
    const url = await iam.listen();
    agency = { agencyName: AGENCY, domainId: MEMBER_DOMAIN, endpoint: url };
    const config = await parseConfig(
      `sources:
  - name: hw
    type: huawei-scm
    endpoint: https://scm.ap-southeast-1.myhuaweicloud.com
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
receivers: [{ name: hook, type: webhook, url: "https://hooks.example.com/x" }]`,
      "t.yml",
    );
    source = config.sources[0] as ScmSource;
  });
  afterAll(async () => {
    await http.close();
    await iam.close();
  });

  /** Asks IAM for the agency's keys once, with a provider of its own (none kept from an earlier test). */
  async function assume() {
    const stats = newCallStats();
    const provider = new AgencyCredentials(agency, baseCredential(source));
    const context = { http, stats, previous: new Map(), warn: () => undefined };
    const keys = await provider.get(source, context).catch((error: unknown) => error as Error);
    return { keys, stats };
  }

  it.each([
    ["429 APIGW.0308", "throttle" as const],
    ["a 5xx", "5xx" as const],
  ])("answering %s is retried, and the keys obtained", async (_what, fault) => {
    const issued = iam.issued.length;
    iam.inject(fault, 2);
    const { keys, stats } = await assume();
    expect(keys).toMatchObject({ kind: "aksk", securityToken: expect.any(String) });
    expect(stats.retries).toBe(2);
    expect(iam.issued).toHaveLength(issued + 1);
  });

  it.each([
    [
      "429 APIGW.0308",
      "throttle" as const,
      /HTTP 429 APIGW\.0308 \(The throttling threshold has been reached\)/,
    ],
    ["a 5xx", "5xx" as const, /HTTP 500 IAM\.0006 \(System error\)/],
  ])(
    "answering %s every time fails naming the source, agency and call, after the retries",
    async (_what, fault, answer) => {
      iam.injectAlways(fault);
      try {
        const { keys, stats } = await assume();
        expect(keys).toBeInstanceOf(Error);
        const { message } = keys as Error;
        expect(message).toMatch(
          new RegExp(
            `^hw: could not assume agency ${AGENCY} in domain ${MEMBER_DOMAIN}: CreateTemporaryAccessKeyByAgency failed: `,
          ),
        );
        expect(message).toMatch(answer);
        expect(message).toMatch(/\[request id \w+\] after 4 attempts/);
        expect(message).not.toContain(KEYS.secretKey);
        expect(stats.retries).toBe(3);
      } finally {
        iam.injectAlways(undefined);
      }
    },
  );
});

describe("the SDK's environment variables, when a source names no keys", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  const ENV_DOMAIN = "0f1e0000000000000000000000envd01";
  const yaml = (url: string, credentials: string) => `sources:
  - name: hw-env
    type: huawei-scm
    endpoint: ${url}
${credentials}
    timeout: 2s
receivers: [{ name: hook, type: webhook, url: "https://hooks.example.com/x" }]`;

  it("signs with HUAWEICLOUD_SDK_AK/SK, sends the security token and the domain id", async () => {
    const scm = scmSimulator({ certificates: Rig.fleet(12, NOW), credentials: KEYS, domainId: ENV_DOMAIN });
    const url = await scm.listen();
    const http = new HttpClient();
    const seen: Exchange[] = [];
    const stop = observeExchanges((exchange) => seen.push(exchange));
    try {
      vi.stubEnv("HUAWEICLOUD_SDK_AK", KEYS.accessKey);
      vi.stubEnv("HUAWEICLOUD_SDK_SK", KEYS.secretKey);
      vi.stubEnv("HUAWEICLOUD_SDK_SECURITY_TOKEN", "env-security-token-0123456789");
      vi.stubEnv("HUAWEICLOUD_SDK_DOMAIN_ID", ENV_DOMAIN);
      const config = await parseConfig(yaml(url, ""), "t.yml");
      const source = config.sources[0] as ScmSource;
      const context = { http, stats: newCallStats(), previous: new Map(), warn: () => undefined };
      const observations = [];
      for await (const observation of huaweiScm.collect(source, context)) observations.push(observation);
      expect(observations).toHaveLength(12);
      const [exchange] = seen;
      expect(exchange?.request.headers["x-security-token"]).toBe("env-security-token-0123456789");
      expect(exchange?.request.headers["x-domain-id"]).toBe(ENV_DOMAIN);
      expect(exchange?.request.headers.authorization).toContain(`Access=${KEYS.accessKey},`);
    } finally {
      stop();
      await http.close();
      await scm.close();
    }
  });

  it("keys in the config win over the environment; neither fails naming both ways", async () => {
    vi.stubEnv("HUAWEICLOUD_SDK_AK", "ENVKEYNOTUSED0000001");
    vi.stubEnv("HUAWEICLOUD_SDK_SK", "env-secret-not-used");
    const given = await parseConfig(
      yaml(
        "https://scm.ap-southeast-1.myhuaweicloud.com",
        `    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }`,
      ),
      "t.yml",
    );
    expect(baseCredential(given.sources[0] as ScmSource)).toMatchObject({ accessKey: KEYS.accessKey });
    vi.stubEnv("HUAWEICLOUD_SDK_AK", undefined);
    vi.stubEnv("HUAWEICLOUD_SDK_SK", undefined);
    const none = await parseConfig(yaml("https://scm.ap-southeast-1.myhuaweicloud.com", ""), "t.yml");
    expect(() => baseCredential(none.sources[0] as ScmSource)).toThrow(
      /hw-env: no Huawei credentials: .*HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not both set/,
    );
  });

  it("one key without the other, or an agency without its account, is refused by the schema", async () => {
    await expect(
      parseConfig(
        yaml("https://scm.example.com", `    credentials: { accessKey: ${KEYS.accessKey} }`),
        "t.yml",
      ),
    ).rejects.toThrow(/sources\[0\]\.credentials\.secretKey: required/);
    await expect(
      parseConfig(
        yaml("https://scm.example.com", `    credentials: { assumeAgency: { agencyName: a } }`),
        "t.yml",
      ),
    ).rejects.toThrow(/sources\[0\]\.credentials\.assumeAgency\.domainId: required/);
  });
});
