import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
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
import { fromOidcRole } from "../lib/sources/aliyun/credentials/oidc.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { driverFor } from "../lib/sources/index.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { type RunSummary, runSweep } from "../lib/sweep.js";
import { CasSimulator, type SigningKey } from "../sim/aliyun-cas.js";
import { sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { StsSimulator } from "../sim/aliyun-sts.js";
import { type Exchange, observeExchanges } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { checkExchange, loadContracts } from "./contract/check.js";
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

/** The OIDC role of a pod (ACK RRSA) or a CI job: trusted by the OIDC provider, not by any AccessKey. */
const OIDC_ROLE = "acs:ram::1234567890123456:role/certwatch-oidc";
const OIDC_PROVIDER = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0ffee";
/** Two JWTs as the platform mounts them, before and after it rotates the file. */
const OIDC_TOKENS = [
  "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjZXJ0d2F0Y2gtMSJ9.c2lnbmF0dXJlLW9uZQ",
  "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjZXJ0d2F0Y2gtMiJ9.c2lnbmF0dXJlLXR3bw",
];

type SslSource = Extract<SourceConfig, { type: "aliyun-ssl-certificates" }>;

/** The vendor's own credential providers (@alicloud/credentials, CommonJS), to hold ours to what they send. */
interface VendorProvider {
  getCredentials(): Promise<{ accessKeyId: string; securityToken: string }>;
  doRequest: (request: { protocol: string }) => Promise<unknown>;
}
interface VendorBuilder {
  withRoleArn(value: string): VendorBuilder;
  withOIDCProviderArn(value: string): VendorBuilder;
  withOIDCTokenFilePath(value: string): VendorBuilder;
  withRoleSessionName(value: string): VendorBuilder;
  withStsEndpoint(value: string): VendorBuilder;
  withCredentialsURI(value: string): VendorBuilder;
  build(): VendorProvider;
}
const vendorRequire = createRequire(import.meta.url);
const vendorProvider = (name: string): { builder(): VendorBuilder } =>
  (
    vendorRequire(`@alicloud/credentials/dist/src/providers/${name}.js`) as {
      default: { builder(): VendorBuilder };
    }
  ).default;
const vendorHttp = vendorRequire("@alicloud/credentials/dist/src/providers/http.js") as {
  doRequest: (request: { protocol: string }) => Promise<unknown>;
};

/** One request as a capture server saw it, its query and form body decoded. */
interface Captured {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  authorization: string | undefined;
  form: Record<string, string>;
}

/**
 * A local server on 127.0.0.1 that records every request and answers `answer()`; `run` is given its address
 * (`127.0.0.1:<port>`).
 */
async function capturing(
  answer: () => unknown,
  run: (host: string) => Promise<unknown>,
): Promise<Captured[]> {
  const captured: Captured[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://capture.local");
      captured.push({
        method: req.method ?? "",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: req.headers["content-type"],
        authorization: req.headers.authorization,
        form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8"))),
      });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await run(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return captured;
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");

describe("Alibaba credentials: AssumeRole, expiry mid-sweep, the vendor's chain", () => {
  /** The tokens the OIDC provider vouches for now: a test rotates them with the file. */
  const oidcTokens: string[] = [];
  const sts = new StsSimulator({
    users: [BASE, STRANGER],
    roles: [
      { arn: ROLE, trusted: [BASE.accessKey], externalId: EXTERNAL_ID, maxSessionDuration: 7200 },
      { arn: OIDC_ROLE, trusted: [OIDC_PROVIDER] },
    ],
    oidcProviders: [{ arn: OIDC_PROVIDER, tokens: oidcTokens }],
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

  it("STS answering Throttling or 5xx is retried; when it keeps on, the source fails naming AssumeRole and the role", async () => {
    const config = await configWith([{ name: "ali-role", credentials: assumeRole() }]);
    sts.inject("throttle");
    sts.inject("5xx");
    const retried = await sweep(config);
    expect(retried.summary.sources[0]).toMatchObject({ name: "ali-role", ok: true, objects: 260 });
    const answers = [
      ["throttle", "HTTP 400 Throttling.User \\(Request was denied due to user flow control.\\)"],
      ["5xx", "HTTP 500 InternalError"],
    ] as const;
    for (const [fault, answer] of answers) {
      forgetAliyunCredentials();
      sts.injectAlways(fault);
      try {
        const { summary } = await sweep(config);
        expect(summary.sources[0]?.ok, fault).toBe(false);
        expect(summary.sources[0]?.error).toMatch(
          new RegExp(`AssumeRole ${ROLE} failed: ${answer} .*after 4 attempts`),
        );
      } finally {
        sts.injectAlways(undefined);
      }
    }
  });

  it("an STS answer without the temporary secret is refused, naming the call and the field", async () => {
    const config = await configWith([{ name: "ali-role", credentials: assumeRole() }]);
    sts.inject("malformed");
    const { summary } = await sweep(config);
    expect(summary.sources[0]?.ok).toBe(false);
    expect(summary.sources[0]?.error).toMatch(
      new RegExp(`AssumeRole ${ROLE} returned a malformed answer: Credentials\\.AccessKeySecret is missing`),
    );
  });

  it("the OIDC role sends AssumeRoleWithOIDC exactly as @alicloud/credentials 2.4.7 does: anonymous, same query and form", async () => {
    const tokenFile = join(home, "oidc-token");
    writeFileSync(tokenFile, OIDC_TOKENS[0] as string);
    const answer = () => ({
      RequestId: "capture",
      Credentials: {
        AccessKeyId: "STS.capture",
        AccessKeySecret: "capture-secret",
        SecurityToken: "capture-token",
        Expiration: inAnHour(),
      },
    });
    const theirs = await capturing(answer, async (host) => {
      const provider = vendorProvider("oidc_role_arn")
        .builder()
        .withRoleArn(OIDC_ROLE)
        .withOIDCProviderArn(OIDC_PROVIDER)
        .withOIDCTokenFilePath(tokenFile)
        .withRoleSessionName("certwatch-oidc")
        .withStsEndpoint(host)
        .build();
      // Their provider speaks https only: its request, otherwise unchanged, goes over http to the capture server.
      provider.doRequest = (request) => vendorHttp.doRequest(Object.assign(request, { protocol: "http" }));
      expect((await provider.getCredentials()).accessKeyId).toBe("STS.capture");
    });
    const ours = await capturing(answer, async (host) => {
      const source = fromOidcRole({
        ALIBABA_CLOUD_ROLE_ARN: OIDC_ROLE,
        ALIBABA_CLOUD_OIDC_PROVIDER_ARN: OIDC_PROVIDER,
        ALIBABA_CLOUD_OIDC_TOKEN_FILE: tokenFile,
        ALIBABA_CLOUD_ROLE_SESSION_NAME: "certwatch-oidc",
        CERTWATCH_STS_ENDPOINT: `http://${host}`,
      });
      const http = new HttpClient();
      try {
        const keys = await source?.get({ http, stats: newCallStats(), timeoutMs: 2_000 });
        expect(keys?.accessKey).toBe("STS.capture");
      } finally {
        await http.close();
      }
    });
    expect(theirs).toHaveLength(1);
    expect(ours).toHaveLength(1);
    // Everything but the time of sending, which must still be in the same format.
    const comparable = ({ query: { Timestamp, ...query }, ...rest }: Captured) => ({
      ...rest,
      query,
      timestampFormat: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(Timestamp ?? ""),
    });
    expect(comparable(ours[0] as Captured)).toEqual(comparable(theirs[0] as Captured));
    expect(comparable(theirs[0] as Captured)).toEqual({
      method: "POST",
      path: "/",
      contentType: "application/x-www-form-urlencoded",
      authorization: undefined,
      query: { Version: "2015-04-01", Action: "AssumeRoleWithOIDC", Format: "JSON" },
      timestampFormat: true,
      form: {
        OIDCProviderArn: OIDC_PROVIDER,
        OIDCToken: OIDC_TOKENS[0],
        RoleArn: OIDC_ROLE,
        RoleSessionName: "certwatch-oidc",
        DurationSeconds: "3600",
      },
    });
  });

  it("the contract supplement holds AssumeRoleWithOIDC's form body and unsigned query to the vendor SDK's request", () => {
    const exchange = (query: string, form: string): Exchange => ({
      service: "aliyun.sts",
      request: {
        method: "POST",
        url: new URL(`http://sts.local/?${query}`),
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form,
      },
      answer: { status: 200, body: { RequestId: "r", Credentials: { AccessKeyId: "STS.x" } } },
      deliberate: false,
    });
    const contracts = loadContracts();
    const query =
      "Version=2015-04-01&Action=AssumeRoleWithOIDC&Format=JSON&Timestamp=2026-11-22T00%3A00%3A00Z";
    const form = `OIDCProviderArn=p&OIDCToken=t&RoleArn=r&RoleSessionName=s&DurationSeconds=3600`;
    expect(checkExchange(contracts, exchange(query, form))).toEqual({
      contract: "aliyun.sts.AssumeRoleWithOIDC",
      violations: [],
    });
    expect(
      checkExchange(contracts, exchange(`${query}&RoleArn=r`, "OIDCProviderArn=p&DurationSeconds=1h&Extra=1"))
        .violations,
    ).toEqual([
      "aliyun.sts AssumeRoleWithOIDC: form field DurationSeconds is '1h'; the contract says integer",
      "aliyun.sts AssumeRoleWithOIDC: form field Extra is not in the contract",
      "aliyun.sts AssumeRoleWithOIDC: required form field OIDCToken is missing",
      "aliyun.sts AssumeRoleWithOIDC: required form field RoleArn is missing",
      "aliyun.sts AssumeRoleWithOIDC: query parameter RoleArn is not in the contract",
    ]);
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

    it("then the OIDC role, before the CLI's config.json: the token file is read again when the keys are renewed", async () => {
      cliConfig({ mode: "AK", access_key_id: "LTAIwrong", access_key_secret: "wrong" });
      const tokenFile = join(home, "oidc-token");
      writeFileSync(tokenFile, OIDC_TOKENS[0] as string);
      oidcTokens.splice(0, oidcTokens.length, OIDC_TOKENS[0] as string);
      vi.stubEnv("ALIBABA_CLOUD_ROLE_ARN", OIDC_ROLE);
      vi.stubEnv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER);
      vi.stubEnv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", tokenFile);
      vi.stubEnv("CERTWATCH_STS_ENDPOINT", urls.sts);
      const sent: string[] = [];
      const stop = observeExchanges((exchange: Exchange) => {
        const token = new URLSearchParams(exchange.request.body).get("OIDCToken");
        if (exchange.service === "aliyun.sts" && token) sent.push(token);
      });
      try {
        const config = await noKeys();
        expect(await verify(config)).toMatch(
          new RegExp(`^credentials accepted \\(from the OIDC role ${OIDC_ROLE} \\(STS AssumeRoleWithOIDC`),
        );
        // The platform rotates the token and STS stops honouring the old one; the keys run out mid-life.
        writeFileSync(tokenFile, OIDC_TOKENS[1] as string);
        oidcTokens.splice(0, oidcTokens.length, OIDC_TOKENS[1] as string);
        sts.advance(3_601_000);
        const { summary, json, stored } = await sweep(config);
        expect(summary.sources[0]).toMatchObject({ name: "ali-chain", ok: true, objects: 260 });
        for (const secret of [...OIDC_TOKENS, ...sts.issuedSecrets().slice(-4)]) {
          expect(json).not.toContain(secret);
          expect(stored).not.toContain(secret);
        }
      } finally {
        stop();
      }
      expect(sent).toEqual(OIDC_TOKENS);
      expect(exercisedContracts()).toContain("aliyun.sts.AssumeRoleWithOIDC");
    });

    it("an OIDC role set only in part is named with what it lacks", async () => {
      vi.stubEnv("ALIBABA_CLOUD_ROLE_ARN", OIDC_ROLE);
      const { summary } = await sweep(await noKeys());
      expect(summary.sources[0]?.error).toMatch(
        /OIDC role: the OIDC role needs ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE too/,
      );
    });

    it("last, ALIBABA_CLOUD_CREDENTIALS_URI: a GET as the vendor's provider sends it, again before the keys expire", async () => {
      let answer: Record<string, unknown> = {};
      const serve = (expiresInMs: number) => {
        const expiration = new Date(Date.now() + expiresInMs).toISOString().replace(/\.\d{3}Z$/, "Z");
        answer = { ...ECS_KEYS, Expiration: expiration };
      };
      serve(3_600_000);
      const theirs = await capturing(
        () => answer,
        async (host) => {
          const provider = vendorProvider("uri")
            .builder()
            .withCredentialsURI(`http://${host}/sidecar/keys`)
            .build();
          expect((await provider.getCredentials()).accessKeyId).toBe(ECS_KEYS.AccessKeyId);
        },
      );
      const ours = await capturing(
        () => answer,
        async (host) => {
          vi.stubEnv("ALIBABA_CLOUD_CREDENTIALS_URI", `http://${host}/sidecar/keys`);
          const config = await noKeys();
          // Keys that live two seconds are used for the first and fetched again after.
          serve(2_000);
          expect(await verify(config)).toMatch(
            new RegExp(`^credentials accepted \\(from ALIBABA_CLOUD_CREDENTIALS_URI \\(${host}\\)\\)`),
          );
          await new Promise((resolve) => setTimeout(resolve, 2_100));
          serve(3_600_000);
          const { summary, json } = await sweep(config);
          expect(summary.sources[0]).toMatchObject({ ok: true, objects: 260 });
          expect(json).not.toContain(ECS_KEYS.AccessKeySecret);
          // An answer without its token is refused, naming the field.
          forgetAliyunCredentials();
          answer = { AccessKeyId: ECS_KEYS.AccessKeyId, AccessKeySecret: ECS_KEYS.AccessKeySecret };
          const refused = await sweep(config);
          expect(refused.summary.sources[0]?.error).toMatch(
            /ALIBABA_CLOUD_CREDENTIALS_URI: GET ALIBABA_CLOUD_CREDENTIALS_URI returned a malformed answer: SecurityToken is missing/,
          );
        },
      );
      const requests = (list: Captured[]) => list.map((request) => `${request.method} ${request.path}`);
      expect(requests(theirs)).toEqual(["GET /sidecar/keys"]);
      expect(requests(ours)).toEqual(["GET /sidecar/keys", "GET /sidecar/keys", "GET /sidecar/keys"]);
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
