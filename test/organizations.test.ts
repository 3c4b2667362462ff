import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { mkdtemp, rm as removeFiles, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { dispatchHandler } from "../functions/dispatch.js";
import type { Runtime } from "../functions/runtime.js";
import { sweepHandler } from "../functions/sweep.js";
import type { Output } from "../lib/cli/output.js";
import { validateCommand } from "../lib/cli/validate.js";
import { parseConfig } from "../lib/config/load.js";
import type { Config } from "../lib/config/schema.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import type { SweepRequest } from "../lib/dispatch.js";
import { knownUnits, resolveUnit } from "../lib/organizations.js";
import { accountSelected } from "../lib/sources/accounts.js";
import { forgetAliyunCredentials } from "../lib/sources/aliyun/credentials/index.js";
import { HttpClient } from "../lib/sources/http.js";
import type { EmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { runSweep } from "../lib/sweep.js";
import { CasSimulator, type MemberInventory } from "../sim/aliyun-cas.js";
import { sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { type ScmCertificate, scmFleet } from "../sim/fleet.js";
import { TemporaryKeys } from "../sim/huawei-auth.js";
import { iamSimulator } from "../sim/huawei-iam.js";
import { type OrganizationAccount, organizationsSimulator } from "../sim/huawei-organizations.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { type DirectoryAccount, ResourceManagerSimulator } from "../sim/aliyun-resourcemanager.js";
import { StsSimulator } from "../sim/aliyun-sts.js";
import { observeExchanges } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { exercisedContracts } from "./contract/setup.js";
import { embeddedStore } from "./harness.js";

const NOW = new Date();
/** The management account's RAM user: lists the directory and assumes each member's role. */
const MGMT = { accessKey: "LTAI5tORGMANAGEMENT01", secretKey: "org-management-secret-01" };
const ROLE = "ResourceDirectoryAccountAccessRole";
const A = { AccountId: "1000000000000001", DisplayName: "prod-shop" };
const B = { AccountId: "1000000000000002", DisplayName: "prod-pay" };
const C = { AccountId: "1000000000000003", DisplayName: "staging" };
/** Invited, and never given the role: it fails alone. */
const NO_ROLE = { AccountId: "1000000000000004", DisplayName: "acquired-co", JoinMethod: "invited" as const };
/** Excluded by name. */
const SANDBOX = { AccountId: "1000000000000005", DisplayName: "sandbox-alice" };
/** Still being created: not a member yet. */
const CREATING = { AccountId: "1000000000000006", DisplayName: "new-team", Status: "CreateVerifying" };
const LATER = { AccountId: "1000000000000007", DisplayName: "prod-search" };

/** The CLI runs' instants: minutes apart, before the Lambda run's, which the workers' own clocks time. */
const at = (minute: number) => new Date(NOW.getTime() - 10 * 60_000 + minute * 60_000);
const roleOf = (account: { AccountId: string }) => `acs:ram::${account.AccountId}:role/${ROLE}`;

describe("organizations: one source sweeps every member of a Resource Directory", () => {
  const directory: DirectoryAccount[] = [A, B, C, NO_ROLE, SANDBOX, CREATING];
  const sts = new StsSimulator({
    users: [MGMT],
    roles: [A, B, C, SANDBOX, CREATING, LATER].map((account) => ({
      arn: roleOf(account),
      trusted: [MGMT.accessKey],
    })),
  });
  const inventories = new Map<string, MemberInventory>(
    [A, B, C, SANDBOX, LATER].map((account, index) => [
      account.AccountId,
      { sslCertificates: sslCertificateFleet({ count: 4 + index * 3, now: NOW, seed: 40 + index }) },
    ]),
  );
  // One certificate of prod-pay expires in 5 days: an alert that its route must send to the payments team.
  const payments = inventories.get(B.AccountId)?.sslCertificates?.[0];
  if (payments) payments.NotAfter = NOW.getTime() + 5 * 86_400_000;
  // CAS knows the management account's keys too, with an inventory of their own that no member may be shown.
  const cas = new CasSimulator({
    credentials: MGMT,
    temporaryKeys: sts,
    members: inventories,
    sslCertificates: sslCertificateFleet({ count: 50, now: NOW, seed: 99 }),
    now: NOW,
    qps: 10,
  });
  const rm = new ResourceManagerSimulator({ users: [MGMT], accounts: directory });
  const slack = new SlackReceiverSim();
  let urls: { cas: string; sts: string; rm: string; slack: string };
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;
  const http = new HttpClient();

  const yaml = () => `
sources:
  - name: org
    type: aliyun-ssl-certificates
    endpoint: ${urls.cas}
    timeout: 2s
    credentials: { accessKey: ${MGMT.accessKey}, secretKey: ${MGMT.secretKey} }
    accounts:
      from: resource-directory
      endpoint: ${urls.rm}
      stsEndpoint: ${urls.sts}
      exclude: ["sandbox-*"]
receivers:
  - { name: ops, type: slack, webhookUrl: "${urls.slack}/ops" }
  - { name: payments, type: slack, webhookUrl: "${urls.slack}/payments" }
routes:
  - { match: { account: prod-pay }, receivers: [payments] }
  - { match: { account: acquired-co }, receivers: [payments] }
defaultReceivers: [ops]
`;

  beforeAll(async () => {
    forgetAliyunCredentials();
    vi.stubEnv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    const [casUrl, stsUrl, rmUrl, slackUrl] = await Promise.all([
      cas.listen(),
      sts.listen(),
      rm.listen(),
      slack.listen(),
    ]);
    urls = { cas: casUrl, sts: stsUrl, rm: rmUrl, slack: slackUrl };
    ({ dynamo, store } = await embeddedStore());
    config = await parseConfig(yaml(), "org.yml");
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    store.close();
    await http.close();
    await Promise.all([cas.close(), sts.close(), rm.close(), slack.close(), dynamo.close()]);
  });

  const sweep = (at: Date) => runSweep({ config, store, http, now: at });
  const unit = (account: { AccountId: string }) => `org.${account.AccountId}`;
  const storedOf = async (account: { AccountId: string }) => [
    ...(await store.loadObjects(unit(account))).values(),
  ];

  it("the config takes accounts with the documented defaults, and include/exclude match ids or names", () => {
    const source = config.sources[0];
    expect(source && "accounts" in source ? source.accounts : undefined).toMatchObject({
      from: "resource-directory",
      role: ROLE,
      include: ["*"],
      exclude: ["sandbox-*"],
    });
    const filter = { include: ["prod-*", "1000000000000003"], exclude: ["prod-pay"] };
    expect(accountSelected({ id: A.AccountId, name: A.DisplayName }, filter)).toBe(true);
    expect(accountSelected({ id: B.AccountId, name: B.DisplayName }, filter)).toBe(false);
    expect(accountSelected({ id: C.AccountId, name: C.DisplayName }, filter)).toBe(true);
    expect(accountSelected({ id: SANDBOX.AccountId, name: SANDBOX.DisplayName }, filter)).toBe(false);
  });

  it("every selected member is swept with its own temporary keys; one without the role fails alone, named", async () => {
    const summary = await sweep(at(0));
    const byName = new Map(summary.sources.map((report) => [report.name, report]));
    // Each member is its own unit, beside the organization's discovery unit, which holds no objects of its own.
    expect([...byName.keys()].sort()).toEqual(["org", unit(A), unit(B), unit(C), unit(NO_ROLE)]);
    expect(byName.get("org")).toMatchObject({ ok: true, objects: 0 });
    for (const account of [A, B, C]) {
      expect(byName.get(unit(account))?.ok, unit(account)).toBe(true);
      const expected = inventories.get(account.AccountId)?.sslCertificates?.length;
      expect(await storedOf(account)).toHaveLength(expected as number);
      expect(sts.issuedFor(account.AccountId)).toBe(1);
    }
    const refused = byName.get(unit(NO_ROLE));
    expect(refused?.ok).toBe(false);
    expect(refused?.error).toMatch(
      /AssumeRole acs:ram::1000000000000004:role\/ResourceDirectoryAccountAccessRole/,
    );
    // Nothing was listed for the excluded member, the one still being created, or the management account itself.
    expect(sts.issuedFor(SANDBOX.AccountId)).toBe(0);
    expect(sts.issuedFor(CREATING.AccountId)).toBe(0);
    expect(cas.memberCalls.get(SANDBOX.AccountId)).toBeUndefined();
    expect(summary.exitCode).toBe(1);

    // Labels: each member's observations say whose they are, and a route by account name picks them.
    const [first] = await storedOf(B);
    expect(first?.observation.labels).toMatchObject({
      source: unit(B),
      account: B.AccountId,
      accountName: B.DisplayName,
      provider: "aliyun",
    });
    const alerts = summary.alerts.filter((alert) => alert.source.startsWith("org."));
    expect(alerts.some((alert) => alert.source === unit(B))).toBe(true);
    for (const alert of alerts.filter((candidate) => candidate.fingerprint.includes("/"))) {
      expect(alert.receivers, alert.source).toEqual(alert.source === unit(B) ? ["payments"] : ["ops"]);
    }
    expect(exercisedContracts()).toContain("aliyun.resourcemanager.ListAccounts");
  });

  it("validate lists the organization and assumes the role in its first members, naming one that refuses", async () => {
    const dir = await mkdtemp(join(tmpdir(), "certwatch-org-"));
    const file = join(dir, "certwatch.yml");
    await writeFile(file, yaml());
    // The member without the role comes first in the directory: it is among those checked.
    directory.splice(directory.indexOf(NO_ROLE), 1);
    directory.unshift(NO_ROLE);
    const stdout: string[] = [];
    const output: Output = { out: (line) => stdout.push(line), err: () => undefined, isTTY: false };
    try {
      const code = await validateCommand({ config: file }, output);
      const text = stdout.join("\n");
      const listed = /org +ok +lists (\d+) selected members; (\d+) more not checked here/.exec(text);
      expect(Number(listed?.[1]) - Number(listed?.[2])).toBe(3);
      expect(text).toMatch(
        new RegExp(
          `${unit(NO_ROLE)} +FAILED AssumeRole acs:ram::${NO_ROLE.AccountId}:role/${ROLE}.*no such role in that account; create it there`,
        ),
      );
      for (const account of [A, B])
        expect(text).toMatch(new RegExp(`${unit(account)} +ok +credentials accepted`));
      expect(code).toBe(1);
    } finally {
      directory.splice(directory.indexOf(NO_ROLE), 1);
      directory.splice(3, 0, NO_ROLE);
      await removeFiles(dir, { recursive: true, force: true });
    }
  });

  it("a member that joins is swept on the next run; keys still valid are not asked for again", async () => {
    directory.push(LATER);
    const summary = await sweep(at(1));
    expect(summary.sources.find((report) => report.name === "org")?.warnings).toContain(
      "account 1000000000000007 (prod-search) joined: swept from this run on",
    );
    expect(summary.sources.find((report) => report.name === unit(LATER))?.ok).toBe(true);
    expect(await storedOf(LATER)).toHaveLength(
      inventories.get(LATER.AccountId)?.sslCertificates?.length as number,
    );
    for (const account of [A, B, C, LATER]) expect(sts.issuedFor(account.AccountId)).toBe(1);
    // The member without the role failed twice: certwatch says it cannot see it, routed by its account's labels.
    const blind = summary.alerts.find((alert) => alert.fingerprint === `source-health:${unit(NO_ROLE)}`);
    expect(blind?.receivers).toEqual(["payments"]);
  });

  it("a directory that cannot be listed fails the source as one unit, and nothing of any member is taken as missing", async () => {
    const before = await storedOf(A);
    rm.injectAlways("5xx");
    try {
      const summary = await sweep(at(2));
      expect(summary.sources.map((report) => [report.name, report.ok])).toEqual([["org", false]]);
      expect(summary.sources[0]?.error).toMatch(/could not be listed/);
      // Failing again: certwatch says it cannot see the organization, and routes that by the source's name.
      const blind = await sweep(at(2.1));
      expect(blind.alerts.map((alert) => [alert.fingerprint, alert.transition])).toEqual([
        ["source-health:org", "new"],
      ]);
    } finally {
      rm.injectAlways(undefined);
    }
    const after = await storedOf(A);
    expect(after).toHaveLength(before.length);
    expect(after.every((object) => !object.missingSince)).toBe(true);
    // Listed again: the organization's own alert resolves, as any source's does.
    const recovered = await sweep(at(2.2));
    expect(recovered.sources.find((report) => report.name === "org")?.ok).toBe(true);
    expect(
      recovered.alerts
        .filter((alert) => alert.fingerprint === "source-health:org")
        .map((alert) => alert.transition),
    ).toEqual(["resolved"]);
  });

  it("a directory that changes while it is paged fails as one unit: a member stepped over would go unswept unheard", async () => {
    const kept = directory.length;
    const filler = Array.from({ length: 150 }, (_, i) => ({
      AccountId: String(2000000000000000 + i),
      DisplayName: `filler-${i}`,
    }));
    directory.push(...filler);
    // Once the first page is served, a member joins at its front and the last one leaves: the total holds, and the
    // second page serves one entry again.
    let joined = false;
    const stop = observeExchanges((exchange) => {
      if (joined || exchange.service !== "aliyun.resourcemanager") return;
      joined = true;
      directory.unshift({ AccountId: "2999999999999999", DisplayName: "joined-while-paged" });
      directory.pop();
    });
    try {
      const summary = await sweep(at(2.5));
      expect(summary.sources.map((report) => [report.name, report.ok])).toEqual([["org", false]]);
      expect(summary.sources[0]?.error).toMatch(/ListAccounts: .*changed while it was paged/);
    } finally {
      stop();
      if (joined) directory.splice(0, 1);
      directory.splice(kept);
    }
  });

  it("a member absent from one listing is only missing; absent from the next, it left, and its alerts resolve once, saying so", async () => {
    const before = await storedOf(C);
    // One of staging's certificates expires in 3 days: an open alert that must resolve once staging has left.
    const expiring = inventories.get(C.AccountId)?.sslCertificates?.[0];
    if (expiring) expiring.NotAfter = at(3).getTime() + 3 * 86_400_000;
    const announced = await sweep(at(3));
    expect(announced.alerts.some((alert) => alert.source === unit(C) && alert.transition === "new")).toBe(
      true,
    );
    const kept = await storedOf(C);
    const open = kept.reduce((sum, object) => sum + Object.keys(object.alerts).length, 0);
    expect(open).toBeGreaterThan(0);
    directory.splice(directory.indexOf(C), 1);
    try {
      const missing = await sweep(at(4));
      expect(missing.sources.map((report) => report.name)).not.toContain(unit(C));
      expect(missing.alerts.filter((alert) => alert.source === unit(C))).toEqual([]);
      expect(await storedOf(C)).toEqual(kept);
      const discovery = missing.sources.find((report) => report.name === "org");
      expect(discovery?.warnings.join("\n")).toMatch(
        /account 1000000000000003 \(staging\) is not in the organization's listing .*kept as last seen/,
      );
      // Another run: staging is absent again, so it left. Its units resolve what they announced, once.
      const left = await sweep(at(5));
      const retired = left.sources.find((report) => report.name === unit(C));
      expect(retired).toMatchObject({ ok: true, objects: 0, gone: kept.length });
      const resolved = left.alerts.filter((alert) => alert.source === unit(C));
      expect(resolved.map((alert) => alert.transition)).toEqual(Array(open).fill("resolved"));
      for (const alert of resolved) {
        expect(alert.summary).toMatch(/account 1000000000000003 \(staging\) left the organization/);
      }
      expect(left.sources.find((report) => report.name === "org")?.warnings.join("\n")).toMatch(
        /staging\) left the organization \(absent from two listings/,
      );
      // Retired: nothing more is said or swept of it, and it is forgotten.
      const after = await sweep(at(6));
      expect(after.sources.map((report) => report.name)).not.toContain(unit(C));
      expect(after.alerts.filter((alert) => alert.source === unit(C))).toEqual([]);
      expect([...(await store.members.list("org")).keys()]).not.toContain(C.AccountId);
    } finally {
      directory.push(C);
      if (expiring) expiring.NotAfter = NOW.getTime() + 200 * 86_400_000;
    }
    // Back in the organization: a new member, swept again, its objects continuing their own history.
    const back = await sweep(at(7));
    expect(back.sources.find((report) => report.name === unit(C))?.ok).toBe(true);
    expect((await storedOf(C)).map((object) => object.observation.key).sort()).toEqual(
      before.map((object) => object.observation.key).sort(),
    );
  });

  it("a member missing from one listing and listed again is swept again, with nothing resolved", async () => {
    const recorded = (await store.members.list("org")).get(A.AccountId);
    expect(recorded).toBeDefined();
    directory.splice(directory.indexOf(A), 1);
    try {
      // A dry run reads what was recorded and records nothing: A's absence is not noted by it.
      await runSweep({ config, store, http, now: at(7.5), dryRun: true });
      expect((await store.members.list("org")).get(A.AccountId)).toEqual(recorded);
      await sweep(at(8));
    } finally {
      directory.push(A);
    }
    const again = await sweep(at(9));
    expect(again.sources.find((report) => report.name === unit(A))).toMatchObject({ ok: true, gone: 0 });
    expect(
      again.alerts.filter((alert) => alert.source === unit(A) && alert.transition === "resolved"),
    ).toEqual([]);
    expect(again.sources.find((report) => report.name === "org")?.warnings.join("\n")).toMatch(
      /account 1000000000000001 \(prod-shop\) is listed again: swept again/,
    );
    // The same member, its history kept: the record is rewritten without its absence, not dropped.
    const member = (await store.members.list("org")).get(A.AccountId);
    expect(member).toMatchObject({ id: A.AccountId, firstSeenAt: recorded?.firstSeenAt });
    expect(member).not.toHaveProperty("missingSince");
  });

  it("a run refused for its instant, or a second listing of one run, changes no membership", async () => {
    const before = await store.members.list("org");
    directory.splice(directory.indexOf(B), 1);
    try {
      // Earlier than the runs recorded: refused, and prod-pay's absence is not recorded either.
      await expect(sweep(at(0.5))).rejects.toThrow(/already recorded, later than this run/);
      await expect(sweep(at(0.6))).rejects.toThrow(/already recorded/);
      expect(await store.members.list("org")).toEqual(before);
      // A run of one member sweeps no discovery unit to tell of it: it records no change of membership either.
      const one = await runSweep({ config, store, http, now: at(9.5), only: [unit(A)] });
      expect(one.sources.map((report) => report.name)).toEqual([unit(A)]);
      expect(await store.members.list("org")).toEqual(before);
      // Two listings by one run (a dispatch retried) find it missing once; they do not confirm that it left.
      const runId = "one-run-listed-twice";
      await runSweep({ config, store, http, now: at(10), runId });
      await runSweep({ config, store, http, now: at(10.1), runId });
      const member = (await store.members.list("org")).get(B.AccountId);
      expect(member?.missingSince).toBeDefined();
      expect(member?.leftAt).toBeUndefined();
    } finally {
      directory.push(B);
    }
    await sweep(at(10.2));
    const member = (await store.members.list("org")).get(B.AccountId);
    expect(member).toMatchObject({ id: B.AccountId });
    expect(member).not.toHaveProperty("missingSince");
  });

  it("adding accounts to a source that swept one account keeps that account's objects as last seen, saying so", async () => {
    const single = await parseConfig(yaml().replace(/ {4}accounts:\n(?: {6}.*\n)+/, ""), "single.yml");
    const name = "org";
    // Swept as a plain source once, under the organization's own name, in a store of its own.
    const own = new Store({ table: "converted", endpoint: dynamo.endpoint, historyDays: 90 });
    await own.ensureTable();
    try {
      const first = await runSweep({ config: single, store: own, http, now: at(11) });
      const kept = first.sources.find((report) => report.name === name)?.objects ?? 0;
      expect(kept).toBeGreaterThan(0);
      for (const now of [at(12), at(13)]) {
        const summary = await runSweep({ config, store: own, http, now });
        const discovery = summary.sources.find((report) => report.name === name);
        expect(discovery).toMatchObject({ ok: true, objects: kept, gone: 0 });
        expect(discovery?.warnings.join("\n")).toMatch(
          /objects are stored under org itself.*kept, and alert, as last seen/,
        );
        expect(
          summary.alerts.filter((alert) => alert.source === name && alert.transition === "resolved"),
        ).toEqual([]);
      }
    } finally {
      own.close();
    }
  });

  it("report and history see every member the organization's last discovery recorded", async () => {
    const units = await knownUnits(config.sources, store);
    expect(units.map((known) => known.name).sort()).toEqual(
      ["org", unit(A), unit(B), unit(C), unit(LATER), unit(NO_ROLE)].sort(),
    );
  });

  it("through the Lambda fan-out: dispatch discovers, one FIFO message per member grouped by its budget, workers sweep", async () => {
    const logger = new Logger({ serviceName: "org", logLevel: "SILENT" });
    const metrics = new Metrics({ namespace: "org" });
    const runtime = async (): Promise<Runtime> => ({
      config,
      store,
      http,
      redact: makeRedactor(secretValues(config)),
      logger,
      metrics,
    });
    const entries: { body: string; group: string }[] = [];
    const sqs = {
      send: async (command: SendMessageBatchCommand) => {
        for (const entry of command.input.Entries ?? [])
          entries.push({ body: entry.MessageBody ?? "", group: entry.MessageGroupId ?? "" });
        return { Failed: [] };
      },
    };
    const listsBefore = rm.listCalls;
    const dispatched = await dispatchHandler({ runtime, sqs: sqs as never, queueUrl: "q.fifo" })({
      id: "org-run",
      time: new Date(NOW.getTime() + 240_000).toISOString(),
    });
    const members = [A, B, C, NO_ROLE, LATER];
    // One message per member, and one for the organization's discovery unit.
    expect(dispatched.dispatched).toBe(members.length + 1);
    const bodies = entries.map((entry) => JSON.parse(entry.body) as SweepRequest);
    expect(bodies.map((body) => body.source).sort()).toEqual(["org", ...members.map(unit)].sort());
    expect(bodies.find((body) => body.source === "org")?.discovery?.members).toBe(members.length);
    expect(bodies.find((body) => body.source === unit(B))?.account).toEqual({
      id: B.AccountId,
      name: B.DisplayName,
    });
    // Each member spends its own budget: its own group (the discovery unit spends the management account's).
    expect(new Set(entries.map((entry) => entry.group)).size).toBe(members.length + 1);
    const listedByDispatch = rm.listCalls - listsBefore;

    const failures: string[] = [];
    const worker = sweepHandler({ runtime, triggerNotify: async () => undefined });
    await Promise.all(
      entries.map(async (entry, index) => {
        const result = await worker({ Records: [{ messageId: `m-${index}`, body: entry.body }] });
        failures.push(...result.batchItemFailures.map((failure) => failure.itemIdentifier));
      }),
    );
    expect(failures).toEqual([]);
    // The workers resolved their units from the messages: the directory was not listed again.
    expect(rm.listCalls - listsBefore).toBe(listedByDispatch);
    for (const name of ["org", ...[A, B, C, LATER].map(unit)]) {
      const last = await store.lastSweep(name);
      expect(last?.runId, name).toBe("org-run");
      expect(last?.ok, last?.error).toBe(true);
    }
    expect((await store.lastSweep(unit(NO_ROLE)))?.ok).toBe(false);
    // A message for an account the config no longer selects is refused, not swept with the wrong keys.
    const stray = await worker({
      Records: [
        {
          messageId: "stray",
          body: JSON.stringify({
            source: unit(SANDBOX),
            runId: "org-run",
            dispatchedAt: NOW.toISOString(),
            account: { id: SANDBOX.AccountId, name: SANDBOX.DisplayName },
          }),
        },
      ],
    });
    expect(stray.batchItemFailures).toEqual([{ itemIdentifier: "stray" }]);
    // A retiring message delivered late, for a member that is listed again, resolves nothing of it.
    const objectsBefore = await storedOf(A);
    const late = await worker({
      Records: [
        {
          messageId: "late-retire",
          body: JSON.stringify({
            source: unit(A),
            runId: "org-run",
            dispatchedAt: NOW.toISOString(),
            account: { id: A.AccountId, name: A.DisplayName },
            leftOrganization:
              "account 1000000000000001 (prod-shop) left the organization (confirmed earlier)",
          }),
        },
      ],
    });
    expect(late.batchItemFailures).toEqual([]);
    expect(await storedOf(A)).toEqual(objectsBefore);
    expect((await store.lastSweep(unit(A)))?.gone).toBe(0);
  });
});

describe("organizations: one Huawei SCM source sweeps every member of an Organization through its agency", () => {
  const MGMT_DOMAIN = "0a1b00000000000000000000mgmt0001";
  const HW_MGMT = { accessKey: "HWORGMANAGEMENTKEY01", secretKey: "hw-org-management-secret-01" };
  const AGENCY = "certwatch-reader";
  const WEB: OrganizationAccount = { id: "0b2c0000000000000000000000web001", name: "prod-web" };
  const API: OrganizationAccount = { id: "0b2c0000000000000000000000api001", name: "prod-api" };
  const DATA: OrganizationAccount = { id: "0b2c000000000000000000000data001", name: "data" };
  /** Invited, and never given the agency: it fails alone. */
  const LEGACY: OrganizationAccount = {
    id: "0b2c00000000000000000000legacy01",
    name: "legacy",
    joinMethod: "invited",
  };
  /** Excluded by name. */
  const SANDBOX: OrganizationAccount = { id: "0b2c0000000000000000000sandbox01", name: "sandbox-bob" };
  /** Suspended: not swept. */
  const SUSPENDED: OrganizationAccount = {
    id: "0b2c00000000000000000suspended01",
    name: "old-team",
    status: "suspended",
  };
  const members: OrganizationAccount[] = [WEB, API, DATA, LEGACY, SANDBOX, SUSPENDED];

  const temporary = new TemporaryKeys();
  const iam = iamSimulator({
    accounts: [{ ...HW_MGMT, domainId: MGMT_DOMAIN }],
    agencies: [WEB, API, DATA, SANDBOX, SUSPENDED].map((account) => ({
      domainId: account.id,
      agencyName: AGENCY,
      trusts: [MGMT_DOMAIN],
    })),
    temporary,
  });
  const fleets = new Map<string, ScmCertificate[]>(
    [WEB, API, DATA, SANDBOX].map((account, index) => [
      account.id,
      scmFleet({ count: 5 + index * 4, now: NOW, seed: 70 + index }),
    ]),
  );
  // The management account's own certificates: no member may be shown them.
  const scm = scmSimulator({
    credentials: HW_MGMT,
    domainId: MGMT_DOMAIN,
    temporary,
    certificates: scmFleet({ count: 30, now: NOW, seed: 7 }),
    members: fleets,
  });
  // Two accounts a page: discovery follows next_marker.
  const organizations = organizationsSimulator({
    managers: [{ ...HW_MGMT, domainId: MGMT_DOMAIN }],
    accounts: members,
    maxPerPage: 2,
  });
  const slack = new SlackReceiverSim();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;
  let urls: { scm: string; iam: string; org: string; slack: string };
  const http = new HttpClient();

  const yaml = (accounts = 'exclude: ["sandbox-*"]') => `
sources:
  - name: hw
    type: huawei-scm
    endpoint: ${urls.scm}
    timeout: 2s
    domainId: ${MGMT_DOMAIN}
    credentials: { accessKey: ${HW_MGMT.accessKey}, secretKey: ${HW_MGMT.secretKey} }
    accounts:
      from: huawei-organizations
      endpoint: ${urls.org}
      stsEndpoint: ${urls.iam}
      role: ${AGENCY}
      ${accounts}
receivers:
  - { name: ops, type: slack, webhookUrl: "${urls.slack}/ops" }
`;

  beforeAll(async () => {
    const [scmUrl, iamUrl, orgUrl, slackUrl] = await Promise.all([
      scm.listen(),
      iam.listen(),
      organizations.listen(),
      slack.listen(),
    ]);
    urls = { scm: scmUrl, iam: iamUrl, org: orgUrl, slack: slackUrl };
    ({ dynamo, store } = await embeddedStore("certwatch-hw"));
    config = await parseConfig(yaml(), "hw.yml");
  });
  afterAll(async () => {
    store.close();
    await http.close();
    await Promise.all([scm.close(), iam.close(), organizations.close(), slack.close(), dynamo.close()]);
  });

  const unit = (account: OrganizationAccount) => `hw.${account.id}`;
  const issuedFor = (account: OrganizationAccount) =>
    iam.issued.filter((entry) => entry.domainId === account.id).length;

  it("the config takes huawei-organizations with an agency, and refuses an assumeAgency beside it", async () => {
    const source = config.sources[0];
    expect(source && "accounts" in source ? source.accounts : undefined).toMatchObject({
      from: "huawei-organizations",
      role: AGENCY,
      include: ["*"],
      exclude: ["sandbox-*"],
      durationSeconds: 3600,
    });
    await expect(
      parseConfig(
        yaml().replace(
          `secretKey: ${HW_MGMT.secretKey} }`,
          `secretKey: ${HW_MGMT.secretKey}, assumeAgency: { agencyName: x, domainId: ${MGMT_DOMAIN} } }`,
        ),
        "hw.yml",
      ),
    ).rejects.toThrow(/assumeAgency: not with accounts/);
    await expect(parseConfig(yaml().replace(`role: ${AGENCY}`, ""), "hw.yml")).rejects.toThrow(
      /accounts\.role/,
    );
  });

  it("every active, selected member is swept with its agency's keys in its own account; one without the agency fails alone", async () => {
    const summary = await runSweep({ config, store, http, now: NOW });
    const byName = new Map(summary.sources.map((report) => [report.name, report]));
    expect([...byName.keys()].sort()).toEqual(["hw", unit(WEB), unit(API), unit(DATA), unit(LEGACY)].sort());
    for (const account of [WEB, API, DATA]) {
      const report = byName.get(unit(account));
      expect(report?.ok, report?.error).toBe(true);
      const stored = [...(await store.loadObjects(unit(account))).values()];
      expect(stored).toHaveLength(fleets.get(account.id)?.length as number);
      expect(issuedFor(account)).toBe(1);
    }
    expect(iam.issued.every((entry) => entry.by === MGMT_DOMAIN && entry.durationSeconds === 3600)).toBe(
      true,
    );
    const refused = byName.get(unit(LEGACY));
    expect(refused?.ok).toBe(false);
    expect(refused?.error).toMatch(new RegExp(`could not assume agency ${AGENCY} in domain ${LEGACY.id}`));
    // Nothing asked for the excluded or suspended members; discovery paged through all three pages.
    expect(issuedFor(SANDBOX)).toBe(0);
    expect(issuedFor(SUSPENDED)).toBe(0);
    expect(scm.memberCalls.get(SANDBOX.id)).toBeUndefined();
    expect(organizations.listCalls()).toBe(3);
    expect(summary.exitCode).toBe(1);

    const [first] = [...(await store.loadObjects(unit(API))).values()];
    expect(first?.observation.labels).toMatchObject({
      source: unit(API),
      account: API.id,
      accountName: API.name,
    });
    expect(exercisedContracts()).toContain("huawei.organizations.ListAccounts");
  });

  it("include and exclude pick members by id or name; keys still valid are not asked for again", async () => {
    const picked = await parseConfig(
      yaml(`include: ["prod-*", "${DATA.id}"]\n      exclude: ["prod-api"]`),
      "hw.yml",
    );
    const summary = await runSweep({ config: picked, store, http, now: new Date(NOW.getTime() + 60_000) });
    expect(summary.sources.map((report) => [report.name, report.ok]).sort()).toEqual(
      [
        ["hw", true],
        [unit(WEB), true],
        [unit(DATA), true],
      ].sort(),
    );
    // prod-api, no longer selected, is kept as last seen for now, and the discovery says so.
    const discovery = summary.sources.find((report) => report.name === "hw");
    expect(discovery?.warnings.join("\n")).toMatch(
      /account 0b2c0000000000000000000000api001 \(prod-api\) is not in/,
    );
    for (const account of [WEB, API, DATA]) expect(issuedFor(account)).toBe(1);
  });

  it("a fan-out worker resolves a member's unit from its message, and refuses a member the config does not select", () => {
    const resolved = resolveUnit(config.sources, {
      source: unit(WEB),
      account: { id: WEB.id, name: WEB.name },
    });
    expect(resolved).toMatchObject({
      name: unit(WEB),
      account: { id: WEB.id, name: WEB.name },
      labels: { account: WEB.id, accountName: WEB.name },
    });
    expect(
      resolveUnit(config.sources, { source: unit(SANDBOX), account: { id: SANDBOX.id, name: SANDBOX.name } }),
    ).toBeUndefined();
    // The Organization's own unit is never swept with the management account's keys as if it were a member.
    expect(resolveUnit(config.sources, { source: "hw" })).toBeUndefined();
  });

  it("an Organization that cannot be listed fails as one unit named as the source", async () => {
    organizations.injectAlways("5xx");
    try {
      const summary = await runSweep({ config, store, http, now: new Date(NOW.getTime() + 120_000) });
      expect(summary.sources.map((report) => [report.name, report.ok])).toEqual([["hw", false]]);
      expect(summary.sources[0]?.error).toMatch(/could not be listed/);
    } finally {
      organizations.injectAlways(undefined);
    }
    const stored = [...(await store.loadObjects(unit(WEB))).values()];
    expect(stored.every((object) => !object.missingSince)).toBe(true);
  });
});

describe("organizations: a management role assumed first (role chaining), and a directory that answers wrong", () => {
  const NOW_CHAIN = new Date();
  /** The monitoring account's RAM user: trusted by the management account's role, and by nothing else. */
  const USER = { accessKey: "LTAI5tCHAINBASEUSER01", secretKey: "chain-base-user-secret-01" };
  const MANAGEMENT = "1900000000000000";
  const MANAGEMENT_ROLE = `acs:ram::${MANAGEMENT}:role/certwatch-org-reader`;
  const MEMBERS = [
    { AccountId: "1900000000000001", DisplayName: "chain-shop" },
    { AccountId: "1900000000000002", DisplayName: "chain-pay" },
  ];
  const memberRole = (member: { AccountId: string }) =>
    `acs:ram::${member.AccountId}:role/ResourceDirectoryAccountAccessRole`;
  // Each member's role trusts the management role: only its sessions may assume it.
  const sts = new StsSimulator({
    users: [USER],
    roles: [
      { arn: MANAGEMENT_ROLE, trusted: [USER.accessKey] },
      ...MEMBERS.map((member) => ({ arn: memberRole(member), trusted: [MANAGEMENT_ROLE] })),
    ],
  });
  // The directory answers the management role's sessions, not the user's own keys.
  const rm = new ResourceManagerSimulator({
    users: [],
    accounts: [...MEMBERS],
    roles: { issuer: sts, arns: [MANAGEMENT_ROLE] },
  });
  const inventories = new Map<string, MemberInventory>(
    MEMBERS.map((member, index) => [
      member.AccountId,
      { sslCertificates: sslCertificateFleet({ count: 3 + index, now: NOW_CHAIN, seed: 70 + index }) },
    ]),
  );
  const cas = new CasSimulator({
    credentials: { accessKey: "LTAI5tCHAINUNUSEDKEY1", secretKey: "chain-unused-secret-0001" },
    temporaryKeys: sts,
    members: inventories,
    now: NOW_CHAIN,
  });
  const slack = new SlackReceiverSim();
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;

  beforeAll(async () => {
    forgetAliyunCredentials();
    const [casUrl, stsUrl, rmUrl, slackUrl] = await Promise.all([
      cas.listen(),
      sts.listen(),
      rm.listen(),
      slack.listen(),
    ]);
    ({ dynamo, store } = await embeddedStore("certwatch-chain"));
    config = await parseConfig(
      `
sources:
  - name: chain
    type: aliyun-ssl-certificates
    endpoint: ${casUrl}
    timeout: 2s
    credentials:
      accessKey: ${USER.accessKey}
      secretKey: ${USER.secretKey}
      assumeRole: { roleArn: "${MANAGEMENT_ROLE}", endpoint: "${stsUrl}" }
    accounts:
      from: resource-directory
      endpoint: ${rmUrl}
      stsEndpoint: ${stsUrl}
receivers:
  - { name: ops, type: slack, webhookUrl: "${slackUrl}" }
`,
      "chain.yml",
    );
  });
  afterAll(async () => {
    store.close();
    await http.close();
    await Promise.all([cas.close(), sts.close(), rm.close(), slack.close(), dynamo.close()]);
  });

  const sweep = (minutes: number) =>
    runSweep({ config, store, http, now: new Date(NOW_CHAIN.getTime() + minutes * 60_000) });

  it("the management role is assumed with the user's keys, lists the directory, then assumes each member's role", async () => {
    const directoryCallers: string[] = [];
    const stop = observeExchanges((exchange) => {
      if (exchange.service !== "aliyun.resourcemanager") return;
      const caller = /Credential=([^,]+),/.exec(String(exchange.request.headers.authorization))?.[1];
      if (caller) directoryCallers.push(caller);
    });
    let summary;
    try {
      summary = await sweep(0);
    } finally {
      stop();
    }
    const swept = summary.sources.filter((report) => report.name.startsWith("chain."));
    expect(swept.map((report) => [report.name, report.ok, report.error]).sort()).toEqual(
      MEMBERS.map((member) => [`chain.${member.AccountId}`, true, undefined]),
    );
    for (const member of MEMBERS) {
      const stored = [...(await store.loadObjects(`chain.${member.AccountId}`)).values()];
      expect(stored).toHaveLength(inventories.get(member.AccountId)?.sslCertificates?.length as number);
      expect(sts.issuedFor(member.AccountId)).toBe(1);
    }
    expect(directoryCallers.length).toBeGreaterThan(0);
    expect(directoryCallers.every((caller) => sts.roleOf(caller) === MANAGEMENT_ROLE)).toBe(true);
    expect(sts.issuedFor(MANAGEMENT)).toBe(1);
  });

  it("keys that run out mid-life, the management role's and the members', are renewed once each: no failure", async () => {
    sts.advance(3_601_000);
    const summary = await sweep(1);
    const swept = summary.sources.filter((report) => report.name.startsWith("chain."));
    expect(swept.map((report) => [report.name, report.ok, report.error]).sort()).toEqual(
      MEMBERS.map((member) => [`chain.${member.AccountId}`, true, undefined]),
    );
    expect(sts.issuedFor(MANAGEMENT)).toBe(2);
    for (const member of MEMBERS) expect(sts.issuedFor(member.AccountId)).toBe(2);
  });

  it("a throttled ListAccounts is retried, then fails the organization as one unit naming the call", async () => {
    rm.injectAlways("throttle");
    try {
      const summary = await sweep(2);
      expect(summary.sources.map((report) => [report.name, report.ok])).toEqual([["chain", false]]);
      expect(summary.sources[0]?.error).toMatch(
        /could not be listed: ListAccounts failed: HTTP 400 Throttling\.User .*after 4 attempts/,
      );
    } finally {
      rm.injectAlways(undefined);
    }
  });

  it("a ListAccounts answer with a member without its id fails the organization as one unit naming the field", async () => {
    rm.injectAlways("malformed");
    try {
      const summary = await sweep(3);
      expect(summary.sources.map((report) => [report.name, report.ok])).toEqual([["chain", false]]);
      expect(summary.sources[0]?.error).toMatch(
        /ListAccounts returned a malformed page: page 1: Accounts\.Account\[0\]\.AccountId is not an account id/,
      );
    } finally {
      rm.injectAlways(undefined);
    }
  });
});
