import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { dispatchHandler } from "../functions/dispatch.js";
import { notifyHandler } from "../functions/notify.js";
import type { Runtime } from "../functions/runtime.js";
import { sweepHandler } from "../functions/sweep.js";
import { loadDeployedConfig } from "../lib/config/deployed.js";
import { parseConfig } from "../lib/config/load.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import { notificationId } from "../lib/notify/route.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { deploymentFleet } from "../sim/aliyun-fleet.js";
import { alert } from "./fixtures.js";
import { KEYS, Rig } from "./harness.js";

const NOW = new Date();

/** The Lambda runtime, built on the rig's simulators and dynalite instead of AWS. */
async function runtimeOf(rig: Rig, extraSources = "", extraTop = ""): Promise<Runtime> {
  const config = await parseConfig(
    rig.yaml().replace("sources:\n", `sources:\n${extraSources}`) + extraTop,
    "deployed.yml",
  );
  return {
    config,
    store: rig.store,
    http: rig.http,
    redact: makeRedactor(secretValues(config)),
    logger: new Logger({ serviceName: "certwatch-test", logLevel: "SILENT" }),
    metrics: new Metrics({ namespace: "certwatch-test" }),
  };
}

const sqsEvent = (body: unknown, messageId = "m-1") => ({
  Records: [{ messageId, body: JSON.stringify(body) }],
});

describe("Lambda handlers: dispatch → sweep workers → notify", () => {
  const rig = new Rig(Rig.fleet(60, NOW));
  let runtime: Runtime;

  beforeAll(async () => {
    await rig.start();
    runtime = await runtimeOf(rig);
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("dispatch sends one FIFO message per source, grouped by credential, in batches of ten", async () => {
    const sharing = Array.from(
      { length: 11 },
      (_, n) =>
        `  - { name: hw-${n}, type: huawei-scm, endpoint: "${rig.scmUrl}", credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} } }\n`,
    ).join("");
    const other = `  - { name: hw-other, type: huawei-scm, endpoint: "${rig.scmUrl}", credentials: { accessKey: OTHERKEY0000000000001, secretKey: another-secret-value } }\n`;
    const many = await runtimeOf(rig, sharing + other);
    const sent: SendMessageBatchCommand[] = [];
    const sqs = {
      send: async (command: SendMessageBatchCommand) => {
        sent.push(command);
        return { Successful: command.input.Entries?.map((entry) => ({ Id: entry.Id })), Failed: [] };
      },
    };
    const dispatch = dispatchHandler({
      runtime: async () => many,
      sqs: sqs as never,
      queueUrl: "https://sqs.test/q.fifo",
    });
    const result = await dispatch({ id: "run-1" });
    expect(result).toEqual({ runId: "run-1", dispatched: 13 });
    expect(sent.map((command) => command.input.Entries?.length)).toEqual([10, 3]);
    const entries = sent.flatMap((command) => command.input.Entries ?? []);
    const groups = new Map(
      entries.map((entry) => [JSON.parse(entry.MessageBody ?? "").source, entry.MessageGroupId]),
    );
    expect(
      new Set([...groups.entries()].filter(([name]) => name !== "hw-other").map(([, group]) => group)).size,
    ).toBe(1);
    expect(groups.get("hw-other")).not.toBe(groups.get("hw-test"));
    expect(entries.map((entry) => entry.MessageDeduplicationId)).toContain("run-1:hw-test");
    expect(JSON.stringify(entries)).not.toContain(KEYS.accessKey);
  });

  it("a sweep worker records news for its source and sends nothing; notify delivers it once", async () => {
    const sweep = sweepHandler(async () => runtime);
    expect(
      await sweep(sqsEvent({ source: "hw-test", runId: "run-1", dispatchedAt: NOW.toISOString() })),
    ).toEqual({
      batchItemFailures: [],
    });
    expect(rig.slack.posts).toHaveLength(0);
    const pending = await rig.store.ledger.pendingFor("ops-slack");
    expect(pending.length).toBeGreaterThan(0);
    expect((await rig.store.lastSweep("hw-test"))?.ok).toBe(true);

    const notify = notifyHandler(async () => runtime);
    const first = await notify();
    expect(first.deliveries.map((delivery) => [delivery.receiver, delivery.sent])).toEqual([
      ["ops-slack", pending.length],
      ["ops-mail", pending.length],
    ]);
    expect(rig.slack.posts).toHaveLength(1);
    expect(rig.smtp.messages).toHaveLength(1);
  });

  it("a redelivered message changes nothing and sends nothing twice", async () => {
    const before = await rig.store.loadObjects("hw-test");
    const sweep = sweepHandler(async () => runtime);
    expect(
      await sweep(sqsEvent({ source: "hw-test", runId: "run-1", dispatchedAt: NOW.toISOString() }, "m-1")),
    ).toEqual({ batchItemFailures: [] });
    expect(await rig.store.loadObjects("hw-test")).toEqual(before);
    expect(await rig.store.ledger.pendingFor("ops-slack")).toEqual([]);
    const again = await notifyHandler(async () => runtime)();
    expect(again.deliveries.every((delivery) => delivery.sent === 0)).toBe(true);
    expect(rig.slack.posts).toHaveLength(1);
  });

  it("reports what could not run at all as a batch item failure, for retry and then the dead-letter queue", async () => {
    const sweep = sweepHandler(async () => runtime);
    expect(await sweep(sqsEvent({ source: "no-such-source", runId: "run-2" }, "m-9"))).toEqual({
      batchItemFailures: [{ itemIdentifier: "m-9" }],
    });
    expect(await sweep({ Records: [{ messageId: "m-10", body: "not json" }] })).toEqual({
      batchItemFailures: [{ itemIdentifier: "m-10" }],
    });
  });

  it("a vendor outage is a recorded failed sweep, not a retry of the message", async () => {
    rig.scm.injectAlways("5xx");
    const sweep = sweepHandler(async () => runtime);
    const result = await sweep(sqsEvent({ source: "hw-test", runId: "run-3" }, "m-3"));
    rig.scm.injectAlways(undefined);
    expect(result).toEqual({ batchItemFailures: [] });
    expect(await rig.store.lastSweep("hw-test")).toMatchObject({ ok: false, consecutiveFailures: 1 });
  });
});

describe("notify: what it cannot deliver, it says, without secrets", () => {
  const rig = new Rig(Rig.fleet(20, NOW));
  let runtime: Runtime;

  beforeAll(async () => {
    await rig.start();
    runtime = await runtimeOf(rig);
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("a Slack 404 that echoes the webhook's path leaves its token in neither the result, the log nor the ledger", async () => {
    const token = new URL(rig.slackUrl).pathname.split("/").pop() as string;
    await sweepHandler(async () => runtime)(sqsEvent({ source: "hw-test", runId: "run-e" }));
    rig.slack.answerNext(404, (path) => `no_service: ${path} (${encodeURIComponent(path)})`);
    const logged = vi.spyOn(runtime.logger, "info");
    const result = await notifyHandler(async () => runtime)();
    const slack = result.deliveries.find((delivery) => delivery.receiver === "ops-slack");
    expect(slack?.errors[0]).toMatch(/^Slack rejected the message: 404 no_service/);
    const kept = await rig.store.ledger.pendingFor("ops-slack");
    expect(kept.length).toBeGreaterThan(0);
    for (const text of [
      JSON.stringify(result),
      JSON.stringify(logged.mock.calls),
      ...kept.map((e) => e.lastError),
    ]) {
      expect(text).not.toContain(token);
    }
  });

  it("notifications waiting for a receiver no longer configured are logged as an error, with the command that moves them", async () => {
    const a = alert({ nativeId: "orphan-1" });
    await rig.store.ledger.recordNotification("retired-slack", notificationId(a), a, NOW);
    const errors = vi.spyOn(runtime.logger, "error");
    const result = await notifyHandler(async () => runtime)();
    expect(result.orphaned).toEqual([{ receiver: "retired-slack", pending: 1 }]);
    expect(errors).toHaveBeenCalledWith(
      expect.stringContaining("certwatch reroute --from retired-slack --to RECEIVER"),
      { receiver: "retired-slack", pending: 1 },
    );
  });
});

describe("notify with remediation.redeployFailedWorkers", () => {
  const jobs = deploymentFleet({ jobs: 3, workersPerJob: 2, now: NOW });
  for (const job of jobs) {
    job.Status = job.Id === 8001 ? "error" : "success";
    for (const worker of job.workers) worker.Status = job.Id === 8001 ? "error" : "success";
  }
  const cas = new CasSimulator({ credentials: KEYS, deploymentJobs: jobs });
  const rig = new Rig([]);
  let runtime: Runtime;

  beforeAll(async () => {
    const [casUrl] = await Promise.all([cas.listen(), rig.start()]);
    const deploy = `  - { name: ali-deploy, type: aliyun-deployment-jobs, endpoint: "${casUrl}", contactIds: [3], credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} } }\n`;
    runtime = await runtimeOf(rig, deploy, "remediation: { redeployFailedWorkers: true }\n");
  });
  afterAll(async () => {
    await Promise.all([rig.stop(), cas.close()]);
  });

  it("the sweep worker only records the failure; notify redeploys it and announces both in one digest", async () => {
    const sweep = sweepHandler(async () => runtime);
    await sweep(sqsEvent({ source: "ali-deploy", runId: "run-r", dispatchedAt: NOW.toISOString() }));
    expect(cas.callsOf("CreateDeploymentJob")).toBe(0);
    const result = await notifyHandler(async () => runtime)();
    expect(cas.callsOf("CreateDeploymentJob")).toBe(1);
    expect(jobs.find((job) => job.Id === 9000)?.Status).toBe("pending");
    expect(result.deliveries.find((delivery) => delivery.receiver === "ops-slack")?.messages).toBe(1);
    const digest = JSON.stringify(rig.slack.posts.map((post) => post.body));
    expect(digest).toContain("deployment to");
    expect(digest).toContain("redeploy job 9000 created for 2 failed workers of job 8001 (automatically)");
    await notifyHandler(async () => runtime)();
    expect(cas.callsOf("CreateDeploymentJob")).toBe(1);
    expect(rig.slack.posts).toHaveLength(1);
  });
});

describe("config and secrets in Lambda", () => {
  it("reads the config from an SSM parameter, resolves ${ssm:} SecureStrings once per container, and uses the deployment's table", async () => {
    const parameters: Record<string, string> = {
      "/certwatch/prod/config": `
sources:
  - name: hw-prod
    type: huawei-scm
    endpoint: https://scm.ap-southeast-1.myhuaweicloud.com
    credentials: { accessKey: "\${ssm:/certwatch/prod/hw-ak}", secretKey: "\${ssm:/certwatch/prod/hw-sk}" }
receivers:
  - { name: ops, type: slack, webhookUrl: "\${ssm:/certwatch/prod/slack}" }
`,
      "/certwatch/prod/hw-ak": "HPUAPRODACCESSKEY000",
      "/certwatch/prod/hw-sk": "prod-secret-from-ssm",
      "/certwatch/prod/slack": "https://hooks.slack.com/services/T/B/fromssm",
    };
    const asked: GetParameterCommand["input"][] = [];
    const ssm = {
      send: async (command: GetParameterCommand) => {
        asked.push(command.input);
        const value = parameters[command.input.Name ?? ""];
        if (value === undefined) throw Object.assign(new Error("not found"), { name: "ParameterNotFound" });
        return { Parameter: { Value: value } };
      },
    };
    const config = await loadDeployedConfig(
      { configFile: "unused.yml", configParameter: "/certwatch/prod/config", table: "certwatch-prod" },
      ssm as never,
      {},
    );
    expect(config.sources[0]?.credentials).toEqual({
      accessKey: "HPUAPRODACCESSKEY000",
      secretKey: "prod-secret-from-ssm",
    });
    expect(config.receivers[0]).toMatchObject({ webhookUrl: "https://hooks.slack.com/services/T/B/fromssm" });
    expect(config.store).toMatchObject({ type: "dynamodb", table: "certwatch-prod" });
    expect(asked.every((input) => input.WithDecryption === true)).toBe(true);
    expect(asked.map((input) => input.Name).sort()).toEqual(Object.keys(parameters).sort());

    delete parameters["/certwatch/prod/hw-sk"];
    const missing = await loadDeployedConfig(
      { configFile: "unused.yml", configParameter: "/certwatch/prod/config" },
      ssm as never,
      {},
    ).catch((error: Error) => error.message);
    expect(missing).toContain(
      "sources[0].credentials.secretKey: SSM parameter /certwatch/prod/hw-sk could not be read (ParameterNotFound)",
    );
  });
});
