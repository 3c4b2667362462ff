/**
 * What each Lambda function calls on AWS, against what its role in serverless.yml grants. dynalite and the
 * simulators check no IAM, so a call its role does not grant passes every other test and fails only on AWS, with
 * AccessDenied. Here each function's store talks to dynalite through a recording proxy of its own (the
 * `X-Amz-Target` of each request names the action), SES through another, and its SQS and Lambda clients are
 * recorders; the handlers run through what they do in production, then each call must be granted.
 *
 * Compared: DynamoDB, SQS, Lambda and SES, the services the handlers call. The logs, SSM and KMS statements serve
 * the Lambda service and the runtime's config loading (functions/runtime.ts), which these handlers are given built;
 * test/packaging.test.ts pins them.
 */
import { createServer, type IncomingMessage, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { InvokeCommand } from "@aws-sdk/client-lambda";
import type { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { dispatchHandler } from "../functions/dispatch.js";
import { notifyHandler, type NotifyResult } from "../functions/notify.js";
import type { Runtime } from "../functions/runtime.js";
import { invokeNotify, sweepHandler } from "../functions/sweep.js";
import { parseConfig } from "../lib/config/load.js";
import type { Config } from "../lib/config/schema.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import type { SweepRequest } from "../lib/dispatch.js";
import type { NotifyRequest } from "../lib/run-tracking.js";
import { HttpClient } from "../lib/sources/http.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { deploymentFleet } from "../sim/aliyun-fleet.js";
import { scmFleet } from "../sim/fleet.js";
import { TemporaryKeys } from "../sim/huawei-auth.js";
import { iamSimulator } from "../sim/huawei-iam.js";
import { type OrganizationAccount, organizationsSimulator } from "../sim/huawei-organizations.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { SesSim } from "../sim/ses.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { FifoQueue } from "./fifo-queue.js";
import { scmCertificate } from "./fixtures.js";

const FUNCTIONS = ["dispatch", "sweep", "notify"] as const;
type FunctionName = (typeof FUNCTIONS)[number];
/** The IAM role of each function, as serverless.yml names it. */
const ROLES: Record<FunctionName, string> = {
  dispatch: "DispatchRole",
  sweep: "SweepRole",
  notify: "NotifyRole",
};
/** The services compared (see above). */
const COMPARED_SERVICES = ["dynamodb", "sqs", "lambda", "ses"];

/** Resources as serverless.yml names them: the logical id of a `!GetAtt X.Arn`, a `!Join` of parts, an ARN type. */
const TABLE = "CertwatchTable";
const QUEUE = "SweepQueue";
const NOTIFY_FUNCTION = "NotifyLambdaFunction";
/** The sweep queue's URL, as dispatch and sweep are given it (CERTWATCH_QUEUE_URL). */
const QUEUE_URL = "https://sqs.ap-southeast-1.amazonaws.com/111122223333/certwatch-test-sweep.fifo";

const NOW = new Date();
const HW_DOMAIN = "0a1b0000000000000000000iamtest01";
const HW_KEYS = { accessKey: "HWIAMTESTMANAGEMENT1", secretKey: "hw-iam-test-management-secret" };
const BIG_KEYS = { accessKey: "HWIAMTESTBIGSOURCE01", secretKey: "hw-iam-test-big-source-secret" };
const ALI_KEYS = { accessKey: "LTAI5tIAMTESTDEPLOYS", secretKey: "ali-iam-test-deploy-secret" };
const AGENCY = "certwatch-reader";

/** `<action> on <resource>`, e.g. `dynamodb:Query on CertwatchTable/index/pending`: what a call needs granted. */
const permission = (action: string, resource: string) => `${action} on ${resource}`;

const called: Record<FunctionName, Set<string>> = {
  dispatch: new Set(),
  sweep: new Set(),
  notify: new Set(),
};

/** An HTTP proxy on loopback that records each request, then forwards it to `target` and its answer back. */
async function recordingProxy(target: string, record: (request: IncomingMessage, body: string) => void) {
  const upstream = new URL(target);
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    record(request, body.toString("utf8"));
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.on("error", () => response.destroy());
    forwarded.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** DynamoDB names the action in `X-Amz-Target`; a Query or Scan with `IndexName` needs the grant on the index. */
function recordDynamoCall(fn: FunctionName) {
  return (request: IncomingMessage, body: string) => {
    const action = `dynamodb:${String(request.headers["x-amz-target"]).replace(/^DynamoDB_\d+\./, "")}`;
    const { IndexName } = JSON.parse(body) as { IndexName?: string };
    called[fn].add(permission(action, IndexName ? `${TABLE}/index/${IndexName}` : TABLE));
  };
}

/**
 * SESv2 SendEmail (authorized by ses:SendEmail) on the sending identity, and on the configuration set it names. Any
 * other SES request is recorded as it is, so that the comparison names it.
 */
function recordSesCall(fn: FunctionName) {
  return (request: IncomingMessage, body: string) => {
    if (request.method !== "POST" || request.url !== "/v2/email/outbound-emails") {
      called[fn].add(permission(`ses:(unknown) ${request.method} ${request.url}`, "?"));
      return;
    }
    called[fn].add(permission("ses:SendEmail", "identity"));
    if ((JSON.parse(body) as { ConfigurationSetName?: string }).ConfigurationSetName)
      called[fn].add(permission("ses:SendEmail", "configuration-set"));
  };
}

/** The sweep queue as `fn` is given it: SendMessageBatch, authorized by sqs:SendMessage, into `queue`. */
function recordingSqs(fn: FunctionName, queue: FifoQueue) {
  return {
    send: async (command: SendMessageBatchCommand) => {
      expect(command.input.QueueUrl).toBe(QUEUE_URL);
      called[fn].add(permission("sqs:SendMessage", QUEUE));
      return queue.sqs.send(command);
    },
  } as never;
}

/** The Lambda client the sweep has notify run with: an async Invoke, authorized by lambda:InvokeFunction. */
function recordingLambda(invoked: NotifyRequest[]) {
  return {
    send: async (command: InvokeCommand) => {
      expect(command.input.FunctionName).toBe(NOTIFY_FUNCTION);
      called.sweep.add(permission("lambda:InvokeFunction", NOTIFY_FUNCTION));
      invoked.push(
        JSON.parse(new TextDecoder().decode(command.input.Payload as Uint8Array)) as NotifyRequest,
      );
      return { StatusCode: 202 };
    },
  } as never;
}

/** CloudFormation's short-form functions as the `Fn::` objects they stand for, so that serverless.yml parses. */
const cloudFormationTags = ["GetAtt", "Ref", "Sub", "Join", "If", "Not", "Equals"].flatMap((name) => [
  { tag: `!${name}`, resolve: (value: string) => ({ [`Fn::${name}`]: value }) },
  {
    tag: `!${name}`,
    collection: "seq" as const,
    resolve: (seq: { toJSON(): unknown }) => ({ [`Fn::${name}`]: seq.toJSON() }),
  },
]);

interface Statement {
  Action: string[];
  Resource: unknown[];
}

/** A granted resource by the names this test records calls with (see TABLE, QUEUE, NOTIFY_FUNCTION). */
function resourceName(resource: unknown): string {
  const fn = resource as Record<string, unknown>;
  if (typeof fn["Fn::GetAtt"] === "string") return fn["Fn::GetAtt"].replace(/\.Arn$/, "");
  if (Array.isArray(fn["Fn::Join"])) {
    const [separator, parts] = fn["Fn::Join"] as [string, unknown[]];
    return parts.map((part) => (typeof part === "string" ? part : resourceName(part))).join(separator);
  }
  // An ARN's resource type (`…:identity/${param:sesIdentity}` → identity), its variables left out.
  const arn = String(fn["Fn::Sub"] ?? resource).replace(/\$\{[^}]*\}/g, "");
  return arn.split(":").at(-1)?.replace(/\/.*$/, "") ?? arn;
}

/** What each role grants on the compared services, read from serverless.yml (the `!If` of kms:Decrypt is left out). */
function granted(): Record<FunctionName, Set<string>> {
  const template = parse(readFileSync(new URL("../serverless.yml", import.meta.url), "utf8"), {
    customTags: cloudFormationTags,
  }) as {
    resources: {
      Resources: Record<
        string,
        { Properties: { Policies: { PolicyDocument: { Statement: (Statement | object)[] } }[] } }
      >;
    };
  };
  const grantsOf = (role: string) => {
    const statements = template.resources.Resources[role]?.Properties.Policies.flatMap(
      (policy) => policy.PolicyDocument.Statement,
    );
    if (!statements) throw new Error(`serverless.yml has no role ${role}`);
    return new Set(
      statements
        .filter((statement): statement is Statement => "Action" in statement)
        .flatMap((statement) =>
          statement.Action.filter((action) => COMPARED_SERVICES.includes(action.split(":")[0] ?? "")).flatMap(
            (action) => statement.Resource.map((resource) => permission(action, resourceName(resource))),
          ),
        ),
    );
  };
  return { dispatch: grantsOf(ROLES.dispatch), sweep: grantsOf(ROLES.sweep), notify: grantsOf(ROLES.notify) };
}

describe("each function's role grants what the function calls", () => {
  const members: OrganizationAccount[] = Array.from({ length: 3 }, (_, index) => ({
    id: `0c${String(index + 1).padStart(30, "0")}`,
    name: `team-${index + 1}`,
  }));
  const temporary = new TemporaryKeys();
  const plainFleet = scmFleet({ count: 20, now: NOW, seed: 11 });
  const scm = scmSimulator({
    credentials: HW_KEYS,
    domainId: HW_DOMAIN,
    temporary,
    certificates: plainFleet,
    members: new Map(
      members.map((member, index) => [member.id, scmFleet({ count: 3, now: NOW, seed: index })]),
    ),
  });
  const iam = iamSimulator({
    accounts: [{ ...HW_KEYS, domainId: HW_DOMAIN }],
    agencies: members.map((member) => ({ domainId: member.id, agencyName: AGENCY, trusts: [HW_DOMAIN] })),
    temporary,
  });
  const organizations = organizationsSimulator({
    managers: [{ ...HW_KEYS, domainId: HW_DOMAIN }],
    accounts: members,
  });
  // 1,200 certificates at 5 calls a second: about five seconds of listing against parts of 1.5 s.
  const big = scmSimulator({
    credentials: BIG_KEYS,
    certificates: Array.from({ length: 1200 }, (_, n) =>
      scmCertificate(n, n % 10 === 0 ? 5 : 200 + (n % 300), NOW),
    ),
  });
  const jobs = deploymentFleet({ jobs: 2, workersPerJob: 2, now: NOW });
  for (const job of jobs) {
    job.Status = job.Id === 8001 ? "error" : "success";
    for (const worker of job.workers) worker.Status = job.Status;
  }
  const cas = new CasSimulator({ credentials: ALI_KEYS, deploymentJobs: jobs });
  const slack = new SlackReceiverSim();
  const ses = new SesSim();
  const http = new HttpClient();
  const logger = new Logger({ serviceName: "iam-actions", logLevel: "SILENT" });
  const metrics = new Metrics({ namespace: "iam-actions" });
  const closers: (() => Promise<void>)[] = [];
  let dynamo: EmbeddedDynamo;
  /** Unrecorded: what the scenarios check with. */
  let store: Store;
  const stores = {} as Record<FunctionName, Store>;
  const sesEndpoints = {} as Record<FunctionName, string>;
  const urls = {} as Record<"scm" | "iam" | "organizations" | "big" | "cas" | "slack", string>;

  beforeAll(async () => {
    let sesUrl: string;
    [urls.scm, urls.iam, urls.organizations, urls.big, urls.cas, urls.slack, sesUrl, dynamo] =
      await Promise.all([
        scm.listen(),
        iam.listen(),
        organizations.listen(),
        big.listen(),
        cas.listen(),
        slack.listen(),
        ses.listen(),
        startEmbeddedDynamo(),
      ]);
    store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    await store.ensureTable();
    for (const fn of FUNCTIONS) {
      const [dynamoProxy, sesProxy] = await Promise.all([
        recordingProxy(dynamo.endpoint, recordDynamoCall(fn)),
        recordingProxy(sesUrl, recordSesCall(fn)),
      ]);
      closers.push(dynamoProxy.close, sesProxy.close);
      stores[fn] = new Store({ table: "certwatch", endpoint: dynamoProxy.url, historyDays: 90 });
      sesEndpoints[fn] = sesProxy.url;
    }
  });
  afterAll(async () => {
    store.close();
    for (const fn of FUNCTIONS) stores[fn].close();
    await http.close();
    await Promise.all(closers.map((close) => close()));
    await Promise.all(
      [scm, iam, organizations, big, slack, ses].map((server) => server.close()).concat(cas.close()),
    );
    await dynamo.close();
  });

  const SOURCES = {
    plain: () =>
      `  - { name: hw-plain, type: huawei-scm, endpoint: "${urls.scm}", domainId: ${HW_DOMAIN}, timeout: 2s, credentials: { accessKey: ${HW_KEYS.accessKey}, secretKey: ${HW_KEYS.secretKey} } }\n`,
    organization: () =>
      `  - { name: hw-org, type: huawei-scm, endpoint: "${urls.scm}", domainId: ${HW_DOMAIN}, timeout: 2s, credentials: { accessKey: ${HW_KEYS.accessKey}, secretKey: ${HW_KEYS.secretKey} }, accounts: { from: huawei-organizations, endpoint: "${urls.organizations}", stsEndpoint: "${urls.iam}", role: ${AGENCY} } }\n`,
    big: () =>
      `  - { name: big, type: huawei-scm, endpoint: "${urls.big}", qps: 5, timeBudget: 2s, credentials: { accessKey: ${BIG_KEYS.accessKey}, secretKey: ${BIG_KEYS.secretKey} } }\n`,
    deployments: () =>
      `  - { name: ali-deploy, type: aliyun-deployment-jobs, endpoint: "${urls.cas}", contactIds: [3], credentials: { accessKey: ${ALI_KEYS.accessKey}, secretKey: ${ALI_KEYS.secretKey} } }\n`,
  };

  /**
   * The config each function reads, for `sources`: Slack and SES receivers (SES through the function's own
   * proxy) and a silence whose span the store records.
   */
  async function configOf(fn: FunctionName, sources: string, extra: string): Promise<Config> {
    return parseConfig(
      `sources:
${sources}receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${urls.slack}/ops" }
  - name: ops-ses
    type: email
    from: certwatch@example.com
    to: [oncall@example.com]
    ses: { region: ap-southeast-1, endpoint: "${sesEndpoints[fn]}", configurationSetName: certwatch }
silences:
  - { match: { domain: "*.staging.example.com" }, until: 3d, reason: staging certificates are throwaway }
${extra}`,
      `${fn}.yml`,
    );
  }

  async function runtimeOf(fn: FunctionName, sources: string, extra: string) {
    const config = await configOf(fn, sources, extra);
    const runtime: Runtime = {
      config,
      store: stores[fn],
      http,
      redact: makeRedactor(secretValues(config)),
      logger,
      metrics,
    };
    return async () => runtime;
  }

  /**
   * One scheduled run as on AWS: dispatch queues the units, a sweep worker takes messages until the queue is empty
   * (follow-ups of a sweep in parts included), and each notify the sweeps invoke runs.
   */
  async function scheduledRun(runId: string, sources: string, extra = "") {
    const queue = new FifoQueue();
    await dispatchHandler({
      runtime: await runtimeOf("dispatch", sources, extra),
      sqs: recordingSqs("dispatch", queue),
      queueUrl: QUEUE_URL,
    })({ id: runId, time: new Date().toISOString() });
    const invoked: NotifyRequest[] = [];
    const sweep = sweepHandler({
      runtime: await runtimeOf("sweep", sources, extra),
      sqs: recordingSqs("sweep", queue),
      queueUrl: QUEUE_URL,
      triggerNotify: invokeNotify(recordingLambda(invoked), NOTIFY_FUNCTION),
    });
    const swept: SweepRequest[] = [];
    for (let message = queue.take(); message; message = queue.take()) {
      const result = await sweep({ Records: [{ messageId: message.messageId, body: message.body }] });
      expect(result.batchItemFailures).toEqual([]);
      queue.done(message);
      swept.push(JSON.parse(message.body) as SweepRequest);
    }
    const notify = notifyHandler(await runtimeOf("notify", sources, extra));
    const notified: NotifyResult[] = [];
    for (const request of invoked) notified.push(await notify(request));
    return { swept, invoked, notified };
  }

  /** notify on its schedule, with no sweep before it. */
  async function scheduledNotify(sources: string, extra = "") {
    return notifyHandler(await runtimeOf("notify", sources, extra))({ "detail-type": "Scheduled Event" });
  }

  const sent = (results: NotifyResult[]) =>
    results.flatMap((result) => result.deliveries).reduce((sum, delivery) => sum + delivery.sent, 0);

  it("a first sweep, then a steady one with news: each delivered to Slack and through SES", async () => {
    const first = await scheduledRun("plain-1", SOURCES.plain());
    expect((await store.lastSweep("hw-plain"))?.ok).toBe(true);
    expect(sent(first.notified)).toBeGreaterThan(0);
    expect(ses.messages.length).toBeGreaterThan(0);

    plainFleet.push(scmCertificate(9001, 3, NOW));
    const posts = slack.posts.length;
    const steady = await scheduledRun("plain-2", SOURCES.plain());
    expect(steady.invoked.map((request) => request.reason)).toEqual(["run-complete"]);
    expect(slack.posts.length).toBeGreaterThan(posts);
    expect(JSON.stringify(slack.posts.at(-1)?.body)).toContain("cert-09001");
  });

  it("a failed sweep is recorded as failed, not retried", async () => {
    scm.injectAlways("5xx");
    try {
      await scheduledRun("plain-failed", SOURCES.plain());
    } finally {
      scm.injectAlways(undefined);
    }
    expect(await store.lastSweep("hw-plain")).toMatchObject({ ok: false, consecutiveFailures: 1 });
  });

  it("notify's staleness watch (staleAfter) announces a source whose last good sweep is too old", async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const posts = slack.posts.length;
    const watched = await scheduledNotify(SOURCES.plain(), "alerts: { staleAfter: 1s }\n");
    expect(sent([watched])).toBeGreaterThan(0);
    expect(slack.posts.length).toBeGreaterThan(posts);
  });

  it("an organization: dispatch lists and records its members; one that leaves is retired, then forgotten", async () => {
    const organization = SOURCES.organization();
    const first = await scheduledRun("org-1", organization);
    expect(first.swept.map((request) => request.source).sort()).toEqual(
      ["hw-org", ...members.map((member) => `hw-org.${member.id}`)].sort(),
    );
    expect((await store.members.list("hw-org")).size).toBe(members.length);

    // Absent from one listing, it is missing; from a second, it left and its unit retires; then it is forgotten.
    const [leaving] = members.splice(2, 1) as [OrganizationAccount];
    for (const runId of ["org-2", "org-3", "org-4"]) await scheduledRun(runId, organization);
    expect((await store.members.list("hw-org")).has(leaving.id)).toBe(false);
  });

  it("a sweep in parts saves, loads and clears its checkpoint, and queues each next part", async () => {
    const { swept, invoked } = await scheduledRun("parts-1", SOURCES.big());
    expect(swept.length).toBeGreaterThanOrEqual(3);
    expect(swept.slice(1).every((request) => request.part !== undefined)).toBe(true);
    expect(invoked.at(-1)?.reason).toBe("run-complete");
    expect((await store.loadObjects("big")).size).toBe(1200);
    expect(await store.checkpoints.load("big")).toBeUndefined();
  }, 60_000);

  it("notify redeploys failed deployment workers (remediation.redeployFailedWorkers)", async () => {
    const { notified } = await scheduledRun(
      "deploy-1",
      SOURCES.deployments(),
      "remediation: { redeployFailedWorkers: true }\n",
    );
    expect(cas.callsOf("CreateDeploymentJob")).toBe(1);
    expect(sent(notified)).toBeGreaterThan(0);
  });

  it("grants every action each function called, on the resource it called it on", () => {
    const grants = granted();
    const missing: string[] = [];
    for (const fn of FUNCTIONS) {
      for (const call of [...called[fn]].sort()) {
        if (!grants[fn].has(call)) missing.push(`${fn} (${ROLES[fn]}) calls ${call}, not granted`);
      }
      // Granted but not called is printed, not failed: sweep's queue-reading actions are called by Lambda's event
      // source mapping, not the handler, and an action a rarer path needs may not have been exercised here.
      const unused = [...grants[fn]].filter((grant) => !called[fn].has(grant)).sort();
      console.log(
        `${fn} calls: ${[...called[fn]].sort().join(", ")}` +
          (unused.length ? `; granted, not called here: ${unused.join(", ")}` : ""),
      );
    }
    expect(missing).toEqual([]);
  });
});
