import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { dispatchHandler } from "../functions/dispatch.js";
import type { Runtime } from "../functions/runtime.js";
import type { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { sweepHandler } from "../functions/sweep.js";
import { parseConfig } from "../lib/config/load.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import type { SweepRequest } from "../lib/dispatch.js";
import { forgetAliyunCredentials } from "../lib/sources/aliyun/credentials/index.js";
import { HttpClient } from "../lib/sources/http.js";
import type { EmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { CasSimulator, type MemberInventory } from "../sim/aliyun-cas.js";
import { sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { type DirectoryAccount, ResourceManagerSimulator } from "../sim/aliyun-resourcemanager.js";
import { StsSimulator } from "../sim/aliyun-sts.js";
import { type ScmCertificate, scmFleet } from "../sim/fleet.js";
import { signedAccessKey, TemporaryKeys } from "../sim/huawei-auth.js";
import { iamSimulator } from "../sim/huawei-iam.js";
import { type OrganizationAccount, organizationsSimulator } from "../sim/huawei-organizations.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { type Exchange, observeExchanges } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { FifoQueue } from "./fifo-queue.js";
import { embeddedStore } from "./harness.js";

/** The compass goal for scale-out (issue #16): one Resource Directory of 1,000 members swept from one source. */
const ACCOUNTS = 1000;
const CERTIFICATES_PER_ACCOUNT = 3;
/** Every this many accounts, one holds a large estate: more calls than its QPS, so its limiter must pace them. */
const LARGE_EVERY = 200;
const LARGE_CERTIFICATES = 2000;
/** Sweep workers running at once (each its own "Lambda": its own connections and limiters). */
const WORKERS = 16;
/** CAS's budget per AccessKey, which the simulator enforces per member account (the vendor's is 10). */
const QPS = 10;
const DAY_MS = 86_400_000;

const NOW = new Date();
const MGMT = { accessKey: "LTAI5tSCALEMANAGEMENT", secretKey: "scale-management-secret" };
const ROLE = "ResourceDirectoryAccountAccessRole";
const accountId = (index: number) => String(2_000_000_000_000_000 + index + 1);
const roleOf = (id: string) => `acs:ram::${id}:role/${ROLE}`;

/** Whether a simulator's answer is a throttling one: a gateway's 429 or a `Throttling*` code (CAS answers 400). */
function throttling(exchange: Exchange): boolean {
  const code = (exchange.answer.body as { Code?: unknown } | undefined)?.Code;
  return exchange.answer.status === 429 || (typeof code === "string" && code.startsWith("Throttling"));
}

/** The most of `times` (ms, sorted) that fall within any window of `windowMs`. */
function busiestWindow(times: number[], windowMs: number): number {
  let most = 0;
  let from = 0;
  for (let to = 0; to < times.length; to++) {
    while ((times[to] as number) - (times[from] as number) >= windowMs) from++;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

/** What dispatch asked of one unit, and the FIFO group it was sent to. */
type Dispatched = SweepRequest & { group: string };

/** Runs dispatch for `runId` into `queue`, and returns every message it sent. */
async function dispatchInto(
  queue: FifoQueue,
  runtime: () => Promise<Runtime>,
  runId: string,
): Promise<Dispatched[]> {
  const sent: Dispatched[] = [];
  const sqs = {
    send: async (command: SendMessageBatchCommand) => {
      for (const entry of command.input.Entries ?? []) {
        sent.push({
          ...(JSON.parse(entry.MessageBody ?? "{}") as SweepRequest),
          group: entry.MessageGroupId ?? "",
        });
      }
      return queue.sqs.send(command);
    },
  };
  await dispatchHandler({ runtime, sqs: sqs as never, queueUrl: "q.fifo" })({ id: runId });
  return sent;
}

/**
 * Sweeps every message of `queue` with `workers` workers at once, each its own "Lambda" (its own HTTP client, so its
 * own connections and limiters), as SQS hands FIFO groups out: one message of a group at a time.
 */
async function sweepQueue(queue: FifoQueue, runtimeWith: (http: HttpClient) => Runtime, workers: number) {
  const failures: string[] = [];
  const running = new Map<string, number>();
  let maxPerGroup = 0;
  const sweepMs: number[] = [];
  const worker = async () => {
    const http = new HttpClient();
    const sweep = sweepHandler({
      runtime: async () => runtimeWith(http),
      triggerNotify: async () => undefined,
    });
    try {
      while (!queue.empty) {
        const message = queue.take();
        if (!message) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          continue;
        }
        const now = (running.get(message.group) ?? 0) + 1;
        running.set(message.group, now);
        maxPerGroup = Math.max(maxPerGroup, now);
        const from = Date.now();
        const result = await sweep({ Records: [{ messageId: message.messageId, body: message.body }] });
        sweepMs.push(Date.now() - from);
        running.set(message.group, now - 1);
        failures.push(...result.batchItemFailures.map((failure) => failure.itemIdentifier));
        queue.done(message);
      }
    } finally {
      await http.close();
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return { failures, maxPerGroup, sweepMs };
}

describe(`scale: a ${ACCOUNTS}-account Resource Directory through dispatch, the FIFO queue and sweep workers`, () => {
  const directory: DirectoryAccount[] = Array.from({ length: ACCOUNTS }, (_, index) => ({
    AccountId: accountId(index),
    DisplayName: `team-${String(index + 1).padStart(4, "0")}`,
  }));
  const sts = new StsSimulator({
    users: [MGMT],
    roles: directory.map((account) => ({ arn: roleOf(account.AccountId), trusted: [MGMT.accessKey] })),
  });
  const certificatesOf = (index: number) =>
    index % LARGE_EVERY === LARGE_EVERY - 1 ? LARGE_CERTIFICATES : CERTIFICATES_PER_ACCOUNT;
  // A few certificates per member (a few members many), none near expiry: the run measures discovery and
  // sweeping, not delivery.
  const inventories = new Map<string, MemberInventory>(
    directory.map((account, index) => [
      account.AccountId,
      {
        sslCertificates: sslCertificateFleet({ count: certificatesOf(index), now: NOW, seed: index + 1 }).map(
          (certificate, n) => ({
            ...certificate,
            NotAfter: NOW.getTime() + (200 + n) * DAY_MS,
            Revoked: false,
          }),
        ),
      },
    ]),
  );
  const cas = new CasSimulator({
    credentials: MGMT,
    temporaryKeys: sts,
    members: inventories,
    now: NOW,
    qps: QPS,
    latencyMs: 5,
  });
  const rm = new ResourceManagerSimulator({ users: [MGMT], accounts: directory });
  const slack = new SlackReceiverSim();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let yaml: string;

  beforeAll(async () => {
    forgetAliyunCredentials();
    vi.stubEnv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    const [casUrl, stsUrl, rmUrl, slackUrl] = await Promise.all([
      cas.listen(),
      sts.listen(),
      rm.listen(),
      slack.listen(),
    ]);
    ({ dynamo, store } = await embeddedStore());
    yaml = `
sources:
  - name: org
    type: aliyun-ssl-certificates
    endpoint: ${casUrl}
    qps: ${QPS}
    credentials: { accessKey: ${MGMT.accessKey}, secretKey: ${MGMT.secretKey} }
    accounts: { from: resource-directory, endpoint: ${rmUrl}, stsEndpoint: ${stsUrl} }
receivers:
  - { name: ops, type: slack, webhookUrl: "${slackUrl}/ops" }
`;
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    forgetAliyunCredentials();
    store.close();
    await Promise.all([cas.close(), sts.close(), rm.close(), slack.close(), dynamo.close()]);
  });

  it("every account swept, 0 throttling answers, each account's QPS kept, one AssumeRole per account", async () => {
    const config = await parseConfig(yaml, "scale.yml");
    const logger = new Logger({ serviceName: "scale", logLevel: "SILENT" });
    const metrics = new Metrics({ namespace: "scale" });
    const runtimeWith = (http: HttpClient): Runtime => ({
      config,
      store,
      http,
      redact: makeRedactor(secretValues(config)),
      logger,
      metrics,
    });

    let throttled = 0;
    const casCallsAt = new Map<string, number[]>();
    const stopObserving = observeExchanges((exchange) => {
      if (throttling(exchange)) throttled++;
      if (exchange.service !== "aliyun.cas") return;
      const caller = /Credential=([^,]+),/.exec(String(exchange.request.headers.authorization))?.[1] ?? "";
      const account = sts.accountOf(caller) ?? "(not a member)";
      casCallsAt.set(account, [...(casCallsAt.get(account) ?? []), Date.now()]);
    });
    try {
      const started = Date.now();
      const cpuBefore = process.cpuUsage();
      const queue = new FifoQueue();
      const dispatchHttp = new HttpClient();
      const sent = await dispatchInto(queue, async () => runtimeWith(dispatchHttp), "scale-run");
      await dispatchHttp.close();
      const dispatchSeconds = (Date.now() - started) / 1000;
      const { failures, maxPerGroup, sweepMs } = await sweepQueue(queue, runtimeWith, WORKERS);
      const seconds = (Date.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;

      const members = directory.map((account) => account.AccountId);
      const calls = members.map((id) => casCallsAt.get(id)?.length ?? 0);
      const slowest = Math.max(...calls);
      const slowestAccount = members[calls.indexOf(slowest)] as string;
      const slowestTimes = casCallsAt.get(slowestAccount) ?? [];
      const slowestSpan = (slowestTimes.at(-1) ?? 0) - (slowestTimes[0] ?? 0);
      const busiest = Math.max(...members.map((id) => busiestWindow(casCallsAt.get(id) ?? [], 1000)));
      const sorted = [...sweepMs].sort((a, b) => a - b);
      const issued = new Map<string, number>();
      for (const id of members) issued.set(id, sts.issuedFor(id));
      const assumeRoles = Math.max(...issued.values());
      console.log(
        `scale fan-out: ${ACCOUNTS} accounts of ${CERTIFICATES_PER_ACCOUNT} certificates ` +
          `(${ACCOUNTS / LARGE_EVERY} of them ${LARGE_CERTIFICATES}), ${WORKERS} workers on one process: ` +
          `${seconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU (dispatch ${dispatchSeconds.toFixed(1)} s: ${rm.listCalls} ListAccounts); ` +
          `bound with every account at once = slowest account's calls ÷ QPS = ${slowest} ÷ ${QPS} = ${(slowest / QPS).toFixed(1)} s, its listing took ${(slowestSpan / 1000).toFixed(2)} s; ` +
          `one account's sweep median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms; ` +
          `${cas.stats.requests} CAS calls, busiest second of any account ${busiest} calls (QPS ${QPS}); ` +
          `${sts.issuedCount} AssumeRole (max ${assumeRoles} per account); ${throttled} throttling answers`,
      );

      // One message per member (beside what dispatch sends of the organization itself), each in a FIFO group of its
      // own: a member's sweeps never overlap, whatever the number of workers.
      const memberMessages = sent.filter((request) => request.account);
      expect(memberMessages.map((request) => request.source).sort()).toEqual(
        directory.map((account) => `org.${account.AccountId}`).sort(),
      );
      expect(new Set(memberMessages.map((request) => request.group)).size).toBe(ACCOUNTS);
      expect(failures).toEqual([]);
      expect(maxPerGroup).toBe(1);
      expect(throttled).toBe(0);
      // The account with the most calls was paced by its limiter (an unpaced walk, 4 calls in flight at 5 ms, would take
      // about 50 ms). Its busiest second is printed, not asserted: the client starts calls 1000/QPS ms apart, but on
      // a loaded machine arrivals bunch by the event loop's delays; the vendor's measure is its token bucket, above.
      expect(slowestSpan / 1000).toBeGreaterThanOrEqual(slowest / QPS / 2);
      // Nothing was asked of CAS with the management account's own keys.
      expect(casCallsAt.get("(not a member)")).toBeUndefined();
      // STS: one AssumeRole per account, for a run far shorter than the keys' lifetime (3600 s).
      expect(assumeRoles).toBe(1);
      expect(sts.issuedCount).toBe(ACCOUNTS);
      expect(seconds).toBeLessThan(3600);
      for (const [index, account] of directory.entries()) {
        const unit = `org.${account.AccountId}`;
        const last = await store.lastSweep(unit);
        expect(last?.runId, unit).toBe("scale-run");
        expect(last?.ok, last?.error).toBe(true);
        expect(last?.objects, unit).toBe(certificatesOf(index));
        expect([last?.throttled, last?.retries], unit).toEqual([0, 0]);
      }
    } finally {
      stopObserving();
    }
  }, 300_000);
});

/** A Huawei Organization: discovered by Organizations ListAccounts, each member swept through its own agency. */
const HW_MEMBERS = 60;
const HW_MGMT_DOMAIN = "0a1b0000000000000000000fanout001";
const HW_MGMT = { accessKey: "HWFANOUTMANAGEMENT01", secretKey: "hw-fanout-management-secret" };
const AGENCY = "certwatch-reader";
/** Members a ListAccounts page holds: discovery follows next_marker over three pages. */
const HW_PER_PAGE = 25;
const HW_WORKERS = 8;

describe(`a ${HW_MEMBERS}-member Huawei Organization through dispatch, the FIFO queue and sweep workers`, () => {
  const members: OrganizationAccount[] = Array.from({ length: HW_MEMBERS }, (_, index) => ({
    id: `0c${String(index + 1).padStart(30, "0")}`,
    name: `hw-team-${String(index + 1).padStart(2, "0")}`,
  }));
  /** Joined the Organization but never created the agency: it fails alone. */
  const noAgency = members[41] as OrganizationAccount;
  const temporary = new TemporaryKeys();
  const iam = iamSimulator({
    accounts: [{ ...HW_MGMT, domainId: HW_MGMT_DOMAIN }],
    agencies: members
      .filter((member) => member !== noAgency)
      .map((member) => ({ domainId: member.id, agencyName: AGENCY, trusts: [HW_MGMT_DOMAIN] })),
    temporary,
  });
  const fleets = new Map<string, ScmCertificate[]>(
    members.map((member, index) => [
      member.id,
      scmFleet({ count: 2 + (index % 4), now: NOW, seed: 500 + index }),
    ]),
  );
  // The management account's own certificates: no member's unit may be shown them.
  const scm = scmSimulator({
    credentials: HW_MGMT,
    domainId: HW_MGMT_DOMAIN,
    temporary,
    certificates: scmFleet({ count: 20, now: NOW, seed: 9 }),
    members: fleets,
    qps: QPS,
    latencyMs: 2,
  });
  const organizations = organizationsSimulator({
    managers: [{ ...HW_MGMT, domainId: HW_MGMT_DOMAIN }],
    accounts: members,
    maxPerPage: HW_PER_PAGE,
  });
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let yaml: string;

  beforeAll(async () => {
    const [scmUrl, iamUrl, orgUrl] = await Promise.all([scm.listen(), iam.listen(), organizations.listen()]);
    ({ dynamo, store } = await embeddedStore("certwatch-hw"));
    yaml = `
sources:
  - name: hw
    type: huawei-scm
    endpoint: ${scmUrl}
    qps: ${QPS}
    timeout: 2s
    domainId: ${HW_MGMT_DOMAIN}
    credentials: { accessKey: ${HW_MGMT.accessKey}, secretKey: ${HW_MGMT.secretKey} }
    accounts: { from: huawei-organizations, endpoint: ${orgUrl}, stsEndpoint: ${iamUrl}, role: ${AGENCY} }
receivers:
  - { name: ops, type: webhook, url: "https://hooks.example.com/ops" }
`;
  });
  afterAll(async () => {
    store.close();
    await Promise.all([scm.close(), iam.close(), organizations.close(), dynamo.close()]);
  });

  const unit = (member: OrganizationAccount) => `hw.${member.id}`;

  async function runtimeFactory() {
    const config = await parseConfig(yaml, "hw-fanout.yml");
    const logger = new Logger({ serviceName: "hw-fanout", logLevel: "SILENT" });
    const metrics = new Metrics({ namespace: "hw-fanout" });
    return (http: HttpClient): Runtime => ({
      config,
      store,
      http,
      redact: makeRedactor(secretValues(config)),
      logger,
      metrics,
    });
  }

  /** Dispatches one run and returns its messages, without sweeping them. */
  async function dispatchOnly(runId: string): Promise<Dispatched[]> {
    const runtimeWith = await runtimeFactory();
    const http = new HttpClient();
    try {
      return await dispatchInto(new FifoQueue(), async () => runtimeWith(http), runId);
    } finally {
      await http.close();
    }
  }

  it("every member swept with its own agency's keys, one IAM call each; a member without the agency fails alone, named", async () => {
    const runtimeWith = await runtimeFactory();
    const iamDomains: string[] = [];
    const scmCallers = new Map<string, number>();
    let throttled = 0;
    const stopObserving = observeExchanges((exchange) => {
      if (exchange.answer.status === 429) throttled++;
      if (exchange.service === "huawei.iam") {
        const body = JSON.parse(exchange.request.body) as {
          auth: { identity: { assume_role: { domain_id: string } } };
        };
        iamDomains.push(body.auth.identity.assume_role.domain_id);
      }
      if (exchange.service === "huawei.scm") {
        const key = signedAccessKey(exchange.request) ?? "";
        const caller =
          key === HW_MGMT.accessKey ? "(management)" : (temporary.get(key)?.domainId ?? "(unknown)");
        scmCallers.set(caller, (scmCallers.get(caller) ?? 0) + 1);
      }
    });
    try {
      const queue = new FifoQueue();
      const dispatchHttp = new HttpClient();
      const sent = await dispatchInto(queue, async () => runtimeWith(dispatchHttp), "hw-run");
      await dispatchHttp.close();
      const listed = organizations.listCalls();
      const { failures, maxPerGroup } = await sweepQueue(queue, runtimeWith, HW_WORKERS);

      // Discovery followed next_marker over every page, once, in dispatch; the workers did not list again.
      expect(listed).toBe(Math.ceil(HW_MEMBERS / HW_PER_PAGE));
      expect(organizations.listCalls()).toBe(listed);
      const memberMessages = sent.filter((request) => request.account);
      expect(memberMessages.map((request) => request.source).sort()).toEqual(members.map(unit).sort());
      expect(memberMessages.find((request) => request.source === unit(noAgency))?.account).toEqual({
        id: noAgency.id,
        name: noAgency.name,
      });
      // Each member spends its own budget: its own FIFO group, one sweep of it at a time.
      expect(new Set(memberMessages.map((request) => request.group)).size).toBe(HW_MEMBERS);
      expect(maxPerGroup).toBe(1);
      expect(failures).toEqual([]);
      expect(throttled).toBe(0);

      // IAM: one securitytokens call per member (the refused one included), each by the management account.
      expect(iamDomains.sort()).toEqual(members.map((member) => member.id).sort());
      expect(iam.issued).toHaveLength(HW_MEMBERS - 1);
      expect(iam.issued.every((entry) => entry.by === HW_MGMT_DOMAIN && entry.agencyName === AGENCY)).toBe(
        true,
      );
      // SCM was asked only with members' temporary keys, never the management account's own.
      expect(scmCallers.get("(management)")).toBeUndefined();
      expect(scmCallers.get("(unknown)")).toBeUndefined();
      expect(scmCallers.get(noAgency.id)).toBeUndefined();

      for (const member of members) {
        const last = await store.lastSweep(unit(member));
        expect(last?.runId, unit(member)).toBe("hw-run");
        if (member === noAgency) continue;
        expect(last?.ok, last?.error).toBe(true);
        expect(last?.objects, unit(member)).toBe(fleets.get(member.id)?.length);
        expect(scm.memberCalls.get(member.id), unit(member)).toBeGreaterThan(0);
      }
      const refused = await store.lastSweep(unit(noAgency));
      expect(refused?.ok).toBe(false);
      expect(refused?.error).toContain(`could not assume agency ${AGENCY} in domain ${noAgency.id}`);
      expect(refused?.error).toMatch(/HTTP 403/);
    } finally {
      stopObserving();
    }
  }, 120_000);

  /** The message dispatch sends for the organization itself, and whether any member was dispatched. */
  async function failedDiscovery(runId: string) {
    const sent = await dispatchOnly(runId);
    return {
      members: sent.filter((request) => request.account).length,
      organization: sent.find((request) => request.source === "hw"),
    };
  }

  it("a throttled ListAccounts is retried, then fails the organization as one unit naming the call; no member is dispatched", async () => {
    organizations.injectAlways("throttle");
    try {
      const { members: dispatched, organization } = await failedDiscovery("hw-throttled");
      expect(dispatched).toBe(0);
      expect(organization?.unitError).toMatch(
        /could not be listed: ListAccounts failed: HTTP 429 APIGW\.0308 .*after 4 attempts/,
      );
    } finally {
      organizations.injectAlways(undefined);
    }
  }, 30_000);

  it.each([
    [
      "a non-string account id",
      (body: Record<string, unknown>) => ({
        ...body,
        accounts: (body.accounts as Record<string, unknown>[]).map((account, index) =>
          index === 3 ? { ...account, id: 1234 } : account,
        ),
      }),
      "ListAccounts returned a malformed page: page 1: accounts[3].id is not an account id",
    ],
    [
      "page_info missing",
      ({ page_info: _missing, ...body }: Record<string, unknown>) => body,
      "ListAccounts returned a malformed page: page 1: page_info is missing or not an object",
    ],
    [
      "accounts missing",
      ({ accounts: _missing, ...body }: Record<string, unknown>) => body,
      "ListAccounts returned a malformed page: page 1: accounts is missing or not a list",
    ],
  ])(
    "a ListAccounts page with %s fails the organization as one unit naming the call and the field",
    async (_what, rewrite, message) => {
      organizations.rewrite = rewrite;
      try {
        const { members: dispatched, organization } = await failedDiscovery("hw-malformed");
        expect(dispatched).toBe(0);
        expect(organization?.unitError).toContain(message);
      } finally {
        organizations.rewrite = undefined;
      }
    },
  );
});
