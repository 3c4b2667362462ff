import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { InvokeCommand } from "@aws-sdk/client-lambda";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { dispatchHandler } from "../functions/dispatch.js";
import { notifyHandler } from "../functions/notify.js";
import type { Runtime } from "../functions/runtime.js";
import { invokeNotify, sweepHandler } from "../functions/sweep.js";
import { loadDeployedConfig } from "../lib/config/deployed.js";
import { parseConfig } from "../lib/config/load.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import { notificationId } from "../lib/notify/route.js";
import type { NotifyRequest } from "../lib/run-tracking.js";
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

/** A sweep worker whose requests for notify are kept in `asked`: no Lambda service runs here. */
function sweepWorker(runtime: Runtime, asked: NotifyRequest[] = []) {
  return sweepHandler({
    runtime: async () => runtime,
    triggerNotify: async (request) => {
      asked.push(request);
    },
  });
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
    const sweep = sweepWorker(runtime);
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
    const sweep = sweepWorker(runtime);
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
    const sweep = sweepWorker(runtime);
    expect(await sweep(sqsEvent({ source: "no-such-source", runId: "run-2" }, "m-9"))).toEqual({
      batchItemFailures: [{ itemIdentifier: "m-9" }],
    });
    expect(await sweep({ Records: [{ messageId: "m-10", body: "not json" }] })).toEqual({
      batchItemFailures: [{ itemIdentifier: "m-10" }],
    });
  });

  it("a vendor outage is a recorded failed sweep, not a retry of the message", async () => {
    rig.scm.injectAlways("5xx");
    const sweep = sweepWorker(runtime);
    const result = await sweep(sqsEvent({ source: "hw-test", runId: "run-3" }, "m-3"));
    rig.scm.injectAlways(undefined);
    expect(result).toEqual({ batchItemFailures: [] });
    expect(await rig.store.lastSweep("hw-test")).toMatchObject({ ok: false, consecutiveFailures: 1 });
  });
});

describe("when notify runs: the sweep that completes a run has it run at once", () => {
  const rig = new Rig(Rig.fleet(30, NOW));
  let runtime: Runtime;

  beforeAll(async () => {
    await rig.start();
    const second = `  - { name: hw-second, type: huawei-scm, endpoint: "${rig.scmUrl}", credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} } }\n`;
    runtime = await runtimeOf(rig, second);
  });
  afterAll(async () => {
    await rig.stop();
  });

  /** Dispatches a run; answers each source's message as SQS hands it to a sweep worker. */
  async function dispatchRun(runId: string) {
    const entries: NonNullable<SendMessageBatchCommand["input"]["Entries"]> = [];
    const sqs = {
      send: async (command: SendMessageBatchCommand) => {
        entries.push(...(command.input.Entries ?? []));
        return { Failed: [] };
      },
    };
    await dispatchHandler({
      runtime: async () => runtime,
      sqs: sqs as never,
      queueUrl: "https://sqs.test/q.fifo",
    })({
      id: runId,
    });
    return (source: string) => {
      const entry = entries.find((candidate) => JSON.parse(candidate.MessageBody ?? "").source === source);
      if (!entry) throw new Error(`run ${runId} has no message for ${source}`);
      return sqsEvent(JSON.parse(entry.MessageBody ?? ""), `m-${entry.MessageDeduplicationId}`);
    };
  }

  it("only the run's last sweep asks, and the notify it asks for delivers the run's news", async () => {
    const messageOf = await dispatchRun("run-c");
    const asked: NotifyRequest[] = [];
    const sweep = sweepWorker(runtime, asked);
    expect(await sweep(messageOf("hw-second"))).toEqual({ batchItemFailures: [] });
    expect(asked).toEqual([]);
    expect(await sweep(messageOf("hw-test"))).toEqual({ batchItemFailures: [] });
    expect(asked).toEqual([{ runId: "run-c", reason: "run-complete", source: "hw-test" }]);

    const result = await notifyHandler(async () => runtime)(asked[0]);
    expect(result.trigger).toEqual(asked[0]);
    expect(result.deliveries.every((delivery) => delivery.sent > 0)).toBe(true);
    expect(await rig.store.ledger.pendingFor("ops-slack")).toEqual([]);
    const scheduled = await notifyHandler(async () => runtime)({
      "detail-type": "Scheduled Event",
      id: "e-1",
    });
    expect(scheduled.trigger).toBeUndefined();
  });

  it("a message redelivered after its run completed asks again, since its first attempt may not have; nothing is sent twice", async () => {
    const messageOf = await dispatchRun("run-d");
    const asked: NotifyRequest[] = [];
    const posts = rig.slack.posts.length;
    const failing = sweepHandler({
      runtime: async () => runtime,
      triggerNotify: async () => {
        throw new Error("Rate Exceeded.");
      },
    });
    const sweep = sweepWorker(runtime, asked);
    await sweep(messageOf("hw-second"));
    // Retried, then dead-lettered, like anything else the worker could not do.
    expect(await failing(messageOf("hw-test"))).toEqual({
      batchItemFailures: [{ itemIdentifier: "m-run-d:hw-test" }],
    });
    expect(await sweep(messageOf("hw-test"))).toEqual({ batchItemFailures: [] });
    expect(asked).toEqual([{ runId: "run-d", reason: "run-complete", source: "hw-test" }]);
    await notifyHandler(async () => runtime)(asked[0]);
    expect(rig.slack.posts).toHaveLength(posts);
  });

  it("counts the run's deadline from the schedule's instant (the event's time), as notifySchedule does", async () => {
    const dispatch = dispatchHandler({
      runtime: async () => runtime,
      sqs: { send: async () => ({ Failed: [] }) } as never,
      queueUrl: "https://sqs.test/q.fifo",
    });
    await dispatch({ id: "run-t", time: "2026-03-02T01:00:00Z" });
    expect(await rig.store.runs.countSwept("run-t", "hw-test")).toMatchObject({
      expected: 2,
      dispatchedAt: "2026-03-02T01:00:00.000Z",
      deadline: "2026-03-02T01:10:00.000Z",
    });
  });

  it("invokes the notify function asynchronously, with the request as its event", async () => {
    const sent: InvokeCommand[] = [];
    const lambda = {
      send: async (command: InvokeCommand) => {
        sent.push(command);
        return { StatusCode: 202 };
      },
    };
    const request: NotifyRequest = { runId: "run-i", reason: "late-news", source: "hw-test" };
    await invokeNotify(lambda as never, "certwatch-prod-notify")(request);
    expect(sent.map((command) => command.input.FunctionName)).toEqual(["certwatch-prod-notify"]);
    expect(sent[0]?.input.InvocationType).toBe("Event");
    expect(JSON.parse(new TextDecoder().decode(sent[0]?.input.Payload as Uint8Array))).toEqual(request);
    await expect(invokeNotify(lambda as never, "")(request)).rejects.toThrow(
      "CERTWATCH_NOTIFY_FUNCTION is not set",
    );
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
    await sweepWorker(runtime)(sqsEvent({ source: "hw-test", runId: "run-e" }));
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
    const sweep = sweepWorker(runtime);
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
