import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { Config, SourceConfig } from "../lib/config/schema.js";
import { validateCommand } from "../lib/cli/validate.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import { forgetAliyunCredentials } from "../lib/sources/aliyun/credentials/index.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { driverFor } from "../lib/sources/index.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { type RunSummary, runSweep } from "../lib/sweep.js";
import { CasSimulator, type SigningKey } from "../sim/aliyun-cas.js";
import { sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { StsSimulator } from "../sim/aliyun-sts.js";
import { observeExchanges } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { exercisedContracts } from "./contract/setup.js";

const NOW = new Date("2026-11-22T00:00:00Z");
/** The monitoring account's RAM user: trusted by the role, unknown to CAS (it only reaches CAS through the role). */
const BASE = { accessKey: "LTAI5tMONITORUSER0001", secretKey: "monitor-user-secret-0001" };
/** A RAM user the role does not trust. */
const STRANGER = { accessKey: "LTAI5tSTRANGERUSER001", secretKey: "stranger-user-secret-01" };
/** Keys CAS knows directly: what the chain tests find in the environment and the files. */
const DIRECT = { accessKey: "LTAI5tDIRECTCASKEY001", secretKey: "direct-cas-secret-000001" };
const ROLE = "acs:ram::1234567890123456:role/certwatch-reader";
const EXTERNAL_ID = "certwatch-ext-4242";
/** Keys the local ECS metadata server hands out, as an instance's RAM role would. */
const ECS_KEYS = {
  AccessKeyId: "STS.ECSINSTANCEROLE01",
  AccessKeySecret: "ecs-role-temporary-secret-01",
  SecurityToken: "CAISecsroletoken0123456789abcdef",
};

type SslSource = Extract<SourceConfig, { type: "aliyun-ssl-certificates" }>;

describe("Alibaba credentials: AssumeRole, expiry mid-sweep, the vendor's chain", () => {
  const sts = new StsSimulator({
    users: [BASE, STRANGER],
    roles: [{ arn: ROLE, trusted: [BASE.accessKey], externalId: EXTERNAL_ID, maxSessionDuration: 7200 }],
  });
  const ecsKeys = new Map<string, SigningKey>([
    [ECS_KEYS.AccessKeyId, { secretKey: ECS_KEYS.AccessKeySecret, securityToken: ECS_KEYS.SecurityToken }],
  ]);
  const cas = new CasSimulator({
    credentials: DIRECT,
    temporaryKeys: { signingKey: (id) => sts.signingKey(id) ?? ecsKeys.get(id) },
    sslCertificates: sslCertificateFleet({ count: 260, now: NOW }),
    now: NOW,
  });
  const slack = new SlackReceiverSim();
  let metadata: Server;
  const metadataCalls: string[] = [];
  let urls: { cas: string; sts: string; slack: string; metadata: string };
  let dynamo: EmbeddedDynamo;
  let home: string;

  beforeAll(async () => {
    metadata = createServer((req, res) => {
      metadataCalls.push(`${req.method} ${req.url}`);
      if (req.method === "PUT" && req.url === "/latest/api/token") {
        res.end(req.headers["x-aliyun-ecs-metadata-token-ttl-seconds"] ? "imds-token-1" : "");
        return;
      }
      if (req.headers["x-aliyun-ecs-metadata-token"] !== "imds-token-1") {
        res.writeHead(401).end();
        return;
      }
      if (req.url === "/latest/meta-data/ram/security-credentials/") {
        res.end("certwatch-ecs-role");
      } else if (req.url === "/latest/meta-data/ram/security-credentials/certwatch-ecs-role") {
        const expiration = new Date(Date.now() + 6 * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
        res.end(JSON.stringify({ Code: "Success", ...ECS_KEYS, Expiration: expiration }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => metadata.listen(0, "127.0.0.1", resolve));
    const [casUrl, stsUrl, slackUrl] = await Promise.all([cas.listen(), sts.listen(), slack.listen()]);
    urls = {
      cas: casUrl,
      sts: stsUrl,
      slack: slackUrl,
      metadata: `http://127.0.0.1:${(metadata.address() as AddressInfo).port}`,
    };
    dynamo = await startEmbeddedDynamo();
  });
  afterAll(async () => {
    await Promise.all([cas.close(), sts.close(), slack.close(), dynamo.close()]);
    await new Promise<void>((resolve) => metadata.close(() => resolve()));
  });
  beforeEach(() => {
    forgetAliyunCredentials();
    home = mkdtempSync(join(tmpdir(), "certwatch-home-"));
    vi.stubEnv("HOME", home);
    // Nothing of the machine running the tests may leak into the chain.
    for (const name of Object.keys(process.env).filter((n) => n.startsWith("ALIBABA_CLOUD_")))
      vi.stubEnv(name, undefined);
    vi.stubEnv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    rmSync(home, { recursive: true, force: true });
  });

  async function configWith(sources: { name: string; credentials: string }[]): Promise<Config> {
    const yaml = sources
      .map(
        (source) => `
  - name: ${source.name}
    type: aliyun-ssl-certificates
    endpoint: ${urls.cas}
    timeout: 2s
    credentials: ${source.credentials}`,
      )
      .join("");
    return parseConfig(
      `
sources:${yaml}
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${urls.slack}" }
`,
      "credentials.yml",
    );
  }

  const assumeRole = (extra = "") =>
    `{ accessKey: ${BASE.accessKey}, secretKey: ${BASE.secretKey}, assumeRole: { roleArn: "${ROLE}", externalId: ${EXTERNAL_ID}, endpoint: "${urls.sts}"${extra} } }`;

  /** A sweep as the CLI runs it: its own store, HTTP client and redactor. */
  async function sweep(config: Config): Promise<{ summary: RunSummary; json: string; stored: string }> {
    const table = `certwatch-${Math.random().toString(36).slice(2, 8)}`;
    const store = new Store({
      table,
      endpoint: dynamo.endpoint,
      historyDays: 90,
    });
    await store.ensureTable();
    const http = new HttpClient();
    const redact = makeRedactor(secretValues(config));
    try {
      const summary = await runSweep({ config, store, http, now: NOW, redact });
      const client = new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: "local",
        credentials: { accessKeyId: "local", secretAccessKey: "local" },
      });
      const items = await client.send(new ScanCommand({ TableName: table }));
      client.destroy();
      return { summary, json: redact(JSON.stringify(summary)), stored: JSON.stringify(items.Items) };
    } finally {
      store.close();
      await http.close();
    }
  }

  async function verify(config: Config, index = 0): Promise<string> {
    const http = new HttpClient();
    try {
      const source = config.sources[index] as SslSource;
      return await driverFor(source.type).verify(source, {
        http,
        stats: newCallStats(),
        previous: new Map(),
        warn: () => undefined,
      });
    } finally {
      await http.close();
    }
  }

  it("assumes the role with the ExternalId, sweeps with the temporary keys, and reuses them until they near expiry", async () => {
    const before = sts.issuedCount;
    const config = await configWith([{ name: "ali-role", credentials: assumeRole() }]);
    const first = await sweep(config);
    expect(first.summary.sources.map((s) => [s.name, s.ok, s.error])).toEqual([
      ["ali-role", true, undefined],
    ]);
    expect(first.summary.sources[0]?.objects).toBe(260);
    const second = await sweep(config);
    expect(second.summary.sources[0]?.ok).toBe(true);
    // One AssumeRole for both sweeps: the keys live an hour.
    expect(sts.issuedCount - before).toBe(1);
    expect(await verify(config)).toMatch(
      new RegExp(`^credentials accepted \\(assumed role ${ROLE} via STS, with keys from the config\\); SSL`),
    );
    expect(sts.issuedCount - before).toBe(1);
    expect(exercisedContracts()).toContain("aliyun.sts.AssumeRole");
  });

  it("a token that expires mid-sweep is renewed once and the refused calls sent again: no failure", async () => {
    const before = sts.issuedCount;
    let listings = 0;
    let expiredAnswers = 0;
    const stop = observeExchanges((exchange) => {
      if (exchange.service !== "aliyun.cas") return;
      const code = (exchange.answer.body as { Code?: string }).Code;
      if (code === "InvalidSecurityToken.Expired") expiredAnswers++;
      // After the second page, STS's clock passes the keys' 900 seconds.
      if (++listings === 2) sts.advance(901_000);
    });
    try {
      const config = await configWith([
        { name: "ali-short", credentials: assumeRole(", durationSeconds: 900") },
      ]);
      const { summary } = await sweep(config);
      expect(summary.sources[0]).toMatchObject({ name: "ali-short", ok: true, objects: 260 });
    } finally {
      stop();
    }
    expect(expiredAnswers).toBeGreaterThan(0);
    // The first keys and one renewal, however many calls were refused at once.
    expect(sts.issuedCount - before).toBe(2);
  });

  it("a wrong ExternalId or a role that does not trust the keys fails that source alone, naming the role", async () => {
    const config = await configWith([
      {
        name: "ali-wrong-ext",
        credentials: `{ accessKey: ${BASE.accessKey}, secretKey: ${BASE.secretKey}, assumeRole: { roleArn: "${ROLE}", externalId: not-the-one, endpoint: "${urls.sts}" } }`,
      },
      {
        name: "ali-untrusted",
        credentials: `{ accessKey: ${STRANGER.accessKey}, secretKey: ${STRANGER.secretKey}, assumeRole: { roleArn: "${ROLE}", externalId: ${EXTERNAL_ID}, endpoint: "${urls.sts}" } }`,
      },
      {
        name: "ali-direct",
        credentials: `{ accessKey: ${DIRECT.accessKey}, secretKey: ${DIRECT.secretKey} }`,
      },
    ]);
    const { summary, json } = await sweep(config);
    const byName = new Map(summary.sources.map((s) => [s.name, s]));
    expect(byName.get("ali-direct")?.ok).toBe(true);
    for (const name of ["ali-wrong-ext", "ali-untrusted"]) {
      expect(byName.get(name)?.ok).toBe(false);
      expect(byName.get(name)?.error).toMatch(new RegExp(`AssumeRole ${ROLE} failed: HTTP 403 NoPermission`));
    }
    expect(summary.exitCode).toBe(1);
    expect(json).not.toContain(BASE.secretKey);
    expect(json).not.toContain(STRANGER.secretKey);
  });

  it("no secret, base or temporary, reaches the JSON summary or the store, even when the vendor echoes one", async () => {
    const config = await configWith([{ name: "ali-echo", credentials: assumeRole() }]);
    await sweep(config);
    const [, token] = sts.issuedSecrets().slice(-2);
    expect(token).toBeTruthy();
    cas.refuseNext("ListCertificates", 400, "InvalidParameter", `the token ${token} is not allowed here`);
    const { summary, json, stored } = await sweep(config);
    expect(summary.sources[0]?.ok).toBe(false);
    expect(json).toContain("is not allowed here");
    expect(stored.length).toBeGreaterThan(0);
    for (const secret of [BASE.secretKey, ...sts.issuedSecrets()]) {
      expect(json).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
  });

  it("validate says which credential each source used, and for a refused role what to check", async () => {
    const file = join(home, "certwatch.yml");
    writeFileSync(
      file,
      `
sources:
  - { name: ali-role, type: aliyun-ssl-certificates, endpoint: "${urls.cas}", credentials: ${assumeRole()} }
  - name: ali-refused
    type: aliyun-ssl-certificates
    endpoint: "${urls.cas}"
    credentials: { accessKey: ${STRANGER.accessKey}, secretKey: ${STRANGER.secretKey}, assumeRole: { roleArn: "${ROLE}", endpoint: "${urls.sts}" } }
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${urls.slack}" }
`,
    );
    const lines: string[] = [];
    const code = await validateCommand(
      { config: file },
      { out: (line) => lines.push(line), err: (line) => lines.push(line), isTTY: false },
    );
    expect(code).toBe(1);
    const text = lines.join("\n");
    expect(text).toMatch(
      new RegExp(
        `ali-role\\s+ok\\s+credentials accepted \\(assumed role ${ROLE} via STS, with keys from the config\\)`,
      ),
    );
    expect(text).toMatch(
      new RegExp(
        `ali-refused\\s+FAILED AssumeRole ${ROLE} failed: HTTP 403 NoPermission .*check that its trust policy`,
      ),
    );
    expect(text).not.toContain(STRANGER.secretKey);
  });

  it("the config refuses a bad assumeRole, naming the key", async () => {
    const bad = (assume: string) =>
      configWith([
        { name: "ali-bad", credentials: `{ accessKey: a, secretKey: b, assumeRole: { ${assume} } }` },
      ]);
    await expect(bad(`roleArn: "${ROLE}", durationSeconds: 600`)).rejects.toThrow(
      /sources\[0\]\.credentials\.assumeRole\.durationSeconds/,
    );
    await expect(bad(`roleArn: "${ROLE}", endpoint: "http://sts.aliyuncs.com"`)).rejects.toThrow(
      /sources\[0\]\.credentials\.assumeRole\.endpoint: must start with https/,
    );
    await expect(bad(`roleArn: "certwatch-reader"`)).rejects.toThrow(/assumeRole\.roleArn: a RAM role ARN/);
    await expect(configWith([{ name: "ali-half", credentials: "{ accessKey: LTAIonly }" }])).rejects.toThrow(
      /sources\[0\]\.credentials\.secretKey/,
    );
  });

  describe("a source that names no keys follows the vendor's chain", () => {
    const noKeys = () => configWith([{ name: "ali-chain", credentials: "{}" }]);
    const cliConfig = (profile: Record<string, unknown>) => {
      mkdirSync(join(home, ".aliyun"), { recursive: true });
      writeFileSync(
        join(home, ".aliyun", "config.json"),
        JSON.stringify({ current: "work", profiles: [{ name: "work", ...profile }] }),
      );
    };
    const credentialsFile = (text: string) => {
      mkdirSync(join(home, ".alibabacloud"), { recursive: true });
      writeFileSync(join(home, ".alibabacloud", "credentials"), text);
    };
    const keysIni = `[default]\ntype = access_key\naccess_key_id = ${DIRECT.accessKey}\naccess_key_secret = ${DIRECT.secretKey}\n`;

    it("the environment first", async () => {
      vi.stubEnv("ALIBABA_CLOUD_ACCESS_KEY_ID", DIRECT.accessKey);
      vi.stubEnv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DIRECT.secretKey);
      credentialsFile("[default]\ntype = access_key\naccess_key_id = LTAIwrong\naccess_key_secret = wrong\n");
      expect(await verify(await noKeys())).toMatch(
        /^credentials accepted \(from the ALIBABA_CLOUD_ACCESS_KEY_\* environment/,
      );
    });

    it("then the CLI's config.json (current profile), before the credentials file, as the vendor's chain orders them", async () => {
      cliConfig({ mode: "AK", access_key_id: DIRECT.accessKey, access_key_secret: DIRECT.secretKey });
      credentialsFile("[default]\ntype = access_key\naccess_key_id = LTAIwrong\naccess_key_secret = wrong\n");
      expect(await verify(await noKeys())).toMatch(
        /^credentials accepted \(from ~\/\.aliyun\/config\.json profile work \(AK\)\)/,
      );
    });

    it("then the credentials file's profile (ALIBABA_CLOUD_PROFILE or default)", async () => {
      credentialsFile(
        `[other]\ntype = access_key\naccess_key_id = LTAIwrong\naccess_key_secret = wrong\n\n${keysIni}`,
      );
      expect(await verify(await noKeys())).toMatch(
        /^credentials accepted \(from ~\/\.alibabacloud\/credentials profile default\)/,
      );
    });

    it("assumeRole without keys assumes the role with the keys the chain found", async () => {
      credentialsFile(
        keysIni.replace(DIRECT.accessKey, BASE.accessKey).replace(DIRECT.secretKey, BASE.secretKey),
      );
      const config = await configWith([
        {
          name: "ali-chain-role",
          credentials: `{ assumeRole: { roleArn: "${ROLE}", externalId: ${EXTERNAL_ID}, endpoint: "${urls.sts}" } }`,
        },
      ]);
      expect(await verify(config)).toMatch(
        new RegExp(
          `^credentials accepted \\(assumed role ${ROLE} via STS, with keys from ~/\\.alibabacloud/credentials profile default\\)`,
        ),
      );
    });

    it("then the ECS instance's RAM role, through instance metadata and its token", async () => {
      vi.stubEnv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", undefined);
      vi.stubEnv("CERTWATCH_ECS_METADATA_URL", urls.metadata);
      metadataCalls.length = 0;
      const config = await noKeys();
      expect(await verify(config)).toMatch(
        /^credentials accepted \(from the ECS instance's RAM role \(instance metadata\)\)/,
      );
      expect(metadataCalls).toEqual([
        "PUT /latest/api/token",
        "GET /latest/meta-data/ram/security-credentials/",
        "GET /latest/meta-data/ram/security-credentials/certwatch-ecs-role",
      ]);
      const { summary, json, stored } = await sweep(config);
      expect(summary.sources[0]?.ok).toBe(true);
      for (const secret of [ECS_KEYS.AccessKeySecret, ECS_KEYS.SecurityToken]) {
        expect(json).not.toContain(secret);
        expect(stored).not.toContain(secret);
      }
    });

    it("nothing anywhere: the source fails saying where it looked", async () => {
      const { summary } = await sweep(await noKeys());
      expect(summary.sources[0]?.ok).toBe(false);
      expect(summary.sources[0]?.error).toMatch(
        /no Alibaba Cloud credentials: .*ALIBABA_CLOUD_ACCESS_KEY_ID/,
      );
    });
  });
});
