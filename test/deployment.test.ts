/**
 * The CLI against a deployment, from a laptop: the certwatch.yml that was deployed (secrets as `${ssm:...}`), the
 * user's AWS profile, and the deployment's table. SSM is the local stand-in in sim/ssm.ts and DynamoDB is
 * dynalite, both reached over HTTP the way the AWS SDK reaches any endpoint (AWS_ENDPOINT_URL_<SERVICE>).
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../lib/cli/main.js";
import type { Output } from "../lib/cli/output.js";
import { Store } from "../lib/store/store.js";
import { runSweep } from "../lib/sweep.js";
import { SsmSim } from "../sim/ssm.js";
import { KEYS, Rig } from "./harness.js";

const NOW = new Date();
/** A table as CloudFormation names it: the stack's output CertwatchTableName. */
const TABLE = "certwatch-prod-CertwatchTable-1A2B3C4D5E6F";
const REGION = "eu-west-1";
const PROFILE_KEY = "AKIAPROFILEKEY000001";

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const output: Output = { out: (line) => stdout.push(line), err: (line) => stderr.push(line), isTTY: false };
  const code = await main(["node", "certwatch", ...args], output);
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
}

/** Forwards to DynamoDB (dynalite), noting the region each request was signed for (SigV4's credential scope). */
async function regionRecordingProxy(
  target: string,
): Promise<{ url: string; regions: string[]; server: Server }> {
  const regions: string[] = [];
  const { hostname, port } = new URL(target);
  const server = createServer((req, res) => {
    regions.push(
      /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(req.headers.authorization ?? "")?.[1] ?? "unsigned",
    );
    const upstream = request(
      { hostname, port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, regions, server };
}

describe("certwatch against a deployment, from a laptop", () => {
  const rig = new Rig(Rig.fleet(40, NOW));
  const ssm = new SsmSim(
    new Map([
      ["/certwatch/prod/hw-ak", KEYS.accessKey],
      ["/certwatch/prod/hw-sk", KEYS.secretKey],
    ]),
  );
  let dir: string;
  let deployedConfig: string;
  let ssmUrl: string;
  let dynamo: Awaited<ReturnType<typeof regionRecordingProxy>>;

  beforeAll(async () => {
    await rig.start();
    ssm.parameters.set("/certwatch/prod/slack", rig.slackUrl);
    dir = await mkdtemp(join(tmpdir(), "certwatch-deployment-"));
    // What the Lambda sweep recorded in the deployment's table.
    const table = new Store({ table: TABLE, endpoint: rig.dynamo.endpoint, historyDays: 90 });
    await table.ensureTable();
    await runSweep({ config: rig.config, store: table, http: rig.http, now: NOW });
    table.close();
    // The certwatch.yml that was deployed: no store section (the functions get their table from the stack), and
    // every secret in SSM.
    deployedConfig = join(dir, "certwatch.yml");
    await writeFile(
      deployedConfig,
      rig
        .yaml()
        .replace(
          `{ accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }`,
          '{ accessKey: "${ssm:/certwatch/prod/hw-ak}", secretKey: "${ssm:/certwatch/prod/hw-sk}" }',
        )
        .replace(`"${rig.slackUrl}"`, '"${ssm:/certwatch/prod/slack}"'),
    );
    // An operator's AWS profile: its keys and its region, and nothing else from this machine's environment.
    await writeFile(join(dir, "config"), `[profile certwatch-prod]\nregion = ${REGION}\n`);
    await writeFile(
      join(dir, "credentials"),
      `[certwatch-prod]\naws_access_key_id = ${PROFILE_KEY}\naws_secret_access_key = profile-secret\n`,
    );
    dynamo = await regionRecordingProxy(rig.dynamo.endpoint);
    ssmUrl = await ssm.listen();
  });

  const useProfile = () => {
    const machine = [
      "AWS_REGION",
      "AWS_DEFAULT_REGION",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
    ];
    for (const name of machine) vi.stubEnv(name, undefined);
    vi.stubEnv("AWS_CONFIG_FILE", join(dir, "config"));
    vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", join(dir, "credentials"));
    vi.stubEnv("AWS_PROFILE", "certwatch-prod");
    // No instance metadata to wait for when the profile holds no credentials.
    vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
    vi.stubEnv("AWS_ENDPOINT_URL_SSM", ssmUrl);
    vi.stubEnv("AWS_ENDPOINT_URL_DYNAMODB", dynamo.url);
  };

  afterEach(() => {
    vi.unstubAllEnvs();
    ssm.requests.length = 0;
  });
  afterAll(async () => {
    await Promise.all([rig.stop(), ssm.close()]);
    dynamo.server.closeAllConnections();
    await new Promise<void>((resolve) => dynamo.server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it("validate --offline checks the deployed config's schema alone, reading no parameter", async () => {
    useProfile();
    const valid = await run("validate", "--offline", "--config", deployedConfig);
    expect(valid).toMatchObject({ code: 0, stderr: "" });
    expect(valid.stdout).toContain("config is valid (schema only");
    const bad = join(dir, "bad.yml");
    await writeFile(bad, `${await readFile(deployedConfig, "utf8")}retries: 3\n`);
    const invalid = await run("validate", "--offline", "--config", bad);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain("retries: unknown key");
    expect(ssm.requests).toEqual([]);
  });

  it("report, history and ack run on the deployment's table (CERTWATCH_TABLE), secrets read from SSM with the profile", async () => {
    useProfile();
    vi.stubEnv("CERTWATCH_TABLE", TABLE);

    const report = await run("report", "--config", deployedConfig, "--format", "json");
    expect(report.stderr).toBe("");
    expect(report.code).toBe(0);
    const rows = JSON.parse(report.stdout) as { name: string; key: string }[];
    expect(rows).toHaveLength(40);

    const [first] = rows;
    const history = await run("history", first?.key ?? "", "--config", deployedConfig);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain(first?.name);

    const firing = await (async () => {
      const table = new Store({ table: TABLE, endpoint: rig.dynamo.endpoint, historyDays: 90 });
      const objects = [...(await table.loadObjects("hw-test")).values()];
      table.close();
      const object = objects.find((candidate) => Object.keys(candidate.alerts ?? {}).length > 0);
      return `${Object.keys(object?.alerts ?? {})[0]}:${object?.observation.key}`;
    })();
    const ack = await run(
      "ack",
      firing,
      "--until",
      "3d",
      "--reason",
      "renewal ordered",
      "--config",
      deployedConfig,
    );
    expect(ack.stderr).toBe("");
    expect(ack.code).toBe(0);
    const table = new Store({ table: TABLE, endpoint: rig.dynamo.endpoint, historyDays: 90 });
    expect((await table.acks(NOW)).get(firing)).toMatchObject({ reason: "renewal ordered" });
    table.close();

    // Every parameter read decrypted, with the profile's key, in its region; the table reached in that region too.
    expect(new Set(ssm.requests.map((r) => r.name))).toEqual(new Set(ssm.parameters.keys()));
    for (const asked of ssm.requests) {
      expect(asked).toMatchObject({
        target: "AmazonSSM.GetParameter",
        withDecryption: true,
        accessKeyId: PROFILE_KEY,
        region: REGION,
      });
    }
    expect(new Set(dynamo.regions)).toEqual(new Set([REGION]));
  });

  it("a config whose store names the table, region and endpoint reaches it without CERTWATCH_TABLE", async () => {
    useProfile();
    const named = join(dir, "named.yml");
    const text = await readFile(deployedConfig, "utf8");
    await writeFile(
      named,
      `store: { type: dynamodb, table: ${TABLE}, region: ap-southeast-1, endpoint: "${rig.dynamo.endpoint}" }\n${text}`,
    );
    const report = await run("report", "--config", named, "--format", "json");
    expect(report.code).toBe(0);
    expect(JSON.parse(report.stdout)).toHaveLength(40);
    // The store's region is where the deployment keeps its parameters.
    expect(new Set(ssm.requests.map((r) => r.region))).toEqual(new Set(["ap-southeast-1"]));
  });

  it("says what could not be read and what to do: no such parameter, no credentials, no region", async () => {
    useProfile();
    // The table alone, secrets written in: what the store needs is checked before any call.
    const tableOnly = join(dir, "table-only.yml");
    await writeFile(tableOnly, `store: { type: dynamodb, table: ${TABLE} }\n${rig.yaml()}`);
    ssm.parameters.delete("/certwatch/prod/slack");
    try {
      const missing = await run("report", "--config", deployedConfig);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(
        `receivers[0].webhookUrl: SSM parameter /certwatch/prod/slack could not be read (ParameterNotFound): it does not exist in ${REGION}`,
      );
    } finally {
      ssm.parameters.set("/certwatch/prod/slack", rig.slackUrl);
    }

    ssm.denied.add("/certwatch/prod/hw-sk");
    try {
      const denied = await run("report", "--config", deployedConfig);
      expect(denied.code).toBe(2);
      expect(denied.stderr).toContain(
        "sources[0].credentials.secretKey: SSM parameter /certwatch/prod/hw-sk could not be read (AccessDeniedException): access denied: the credentials need ssm:GetParameter on it",
      );
    } finally {
      ssm.denied.clear();
    }

    await writeFile(join(dir, "no-keys"), "[certwatch-prod]\n");
    vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", join(dir, "no-keys"));
    const anonymous = await run("report", "--config", deployedConfig);
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toContain(
      "sources[0].credentials.secretKey: SSM parameter /certwatch/prod/hw-sk could not be read (CredentialsProviderError): no AWS credentials found: set AWS_PROFILE",
    );
    const anonymousTable = await run("report", "--config", tableOnly);
    expect(anonymousTable.code).toBe(1);
    expect(anonymousTable.stderr).toContain(
      `DynamoDB table ${TABLE}: no AWS credentials found (CredentialsProviderError); set AWS_PROFILE`,
    );

    vi.stubEnv("AWS_PROFILE", "nowhere");
    const regionless = await run("report", "--config", deployedConfig);
    expect(regionless.code).toBe(2);
    expect(regionless.stderr).toContain(
      "sources[0].credentials.accessKey: SSM parameter /certwatch/prod/hw-ak could not be read: no AWS region; set store.region in the config, or AWS_REGION",
    );
    const regionlessTable = await run("report", "--config", tableOnly);
    expect(regionlessTable.code).toBe(1);
    expect(regionlessTable.stderr).toContain(
      `DynamoDB table ${TABLE}: no AWS region; set store.region in the config, or AWS_REGION`,
    );
  });
});
