import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import type { Output } from "../lib/cli/output.js";
import { loadConfig } from "../lib/config/load.js";
import type { DeploymentJobsSourceConfig } from "../lib/config/schema.js";
import { messages } from "../lib/notify/messages.js";
import { redeployNotice } from "../lib/remediate/notice.js";
import { type RedeployContext, redeployJob } from "../lib/remediate/redeploy-job.js";
import { HttpClient } from "../lib/sources/http.js";
import { openStore } from "../lib/store/open.js";
import { type RunSummary, runSweep } from "../lib/sweep.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { type DeploymentJobRecord, deploymentFleet } from "../sim/aliyun-fleet.js";
import { type SlackPost, SlackReceiverSim } from "../sim/slack.js";

const KEYS = { accessKey: "LTAI5tTESTACCESSKEY00", secretKey: "aliyun-test-secret-1234" };
const CREATE = "CreateDeploymentJob";
const UPDATE = "UpdateDeploymentJobStatus";
const HOUR_MS = 3_600_000;

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const output: Output = { out: (l) => stdout.push(l), err: (l) => stderr.push(l), isTTY: false };
  const code = await main(["node", "certwatch", ...args], output);
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
}

/** `certwatch redeploy --config FILE --source ali-deploy --job JOB ...extra`. */
function redeploy(config: string, job: string, ...extra: string[]) {
  return run("redeploy", "--config", config, "--source", "ali-deploy", "--job", job, ...extra);
}

async function sweep(config: string): Promise<RunSummary> {
  const result = await run("sweep", "--config", config, "--json");
  return JSON.parse(result.stdout) as RunSummary;
}

const textOf = (posts: SlackPost[]) => JSON.stringify(posts.map((post) => post.body));

/**
 * Six finished jobs on resources of their own. In each job of `failing`, workers 0 and 2 failed (error,
 * rollback_error) `hoursAgo` hours ago; everything else succeeded.
 */
function fleet(failing: Record<number, number>): DeploymentJobRecord[] {
  const now = Date.now();
  const jobs = deploymentFleet({ jobs: 6, workersPerJob: 4, now: new Date(now) });
  jobs.forEach((job, jobIndex) => {
    job.Status = "success";
    job.workers.forEach((worker, index) => {
      worker.ResourceId = 1_300_000 + jobIndex * 10 + index;
      worker.Status = "success";
    });
    const hoursAgo = failing[job.Id];
    if (hoursAgo === undefined) return;
    job.Status = "error";
    (["error", "success", "rollback_error", "success"] as const).forEach((status, index) => {
      const worker = job.workers[index];
      if (!worker) return;
      worker.Status = status;
      worker.GmtModified = String(now - hoursAgo * HOUR_MS);
    });
  });
  return jobs;
}

const failedOf = (job: DeploymentJobRecord | undefined) =>
  (job?.workers ?? []).filter((w) => w.Status !== "success");

/** A CAS simulator, a Slack receiver, and config files on one embedded store. */
class RedeployRig {
  readonly slack = new SlackReceiverSim();
  dir = "";
  private casUrl = "";
  private slackUrl = "";

  constructor(readonly cas: CasSimulator) {}

  async start(): Promise<this> {
    [this.casUrl, this.slackUrl] = await Promise.all([this.cas.listen(), this.slack.listen()]);
    this.dir = await mkdtemp(join(tmpdir(), "certwatch-redeploy-"));
    return this;
  }

  /** Writes a config file; `source` and `top` are extra YAML lines for the source and the top level. */
  async config(name: string, source = "\n    contactIds: [1, 2]", top = ""): Promise<string> {
    const file = join(this.dir, `${name}.yml`);
    await writeFile(
      file,
      `store: { type: embedded, path: ${JSON.stringify(join(this.dir, "store"))} }
sources:
  - name: ali-deploy
    type: aliyun-deployment-jobs
    endpoint: ${this.casUrl}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    region: cn-hangzhou
    timeout: 2s${source}
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${this.slackUrl}" }
${top}`,
    );
    return file;
  }

  creates(): number {
    return this.cas.callsOf(CREATE);
  }

  async stop(): Promise<void> {
    await Promise.all([this.cas.close(), this.slack.close()]);
    await rm(this.dir, { recursive: true, force: true });
  }
}

describe("certwatch redeploy against the CAS simulator", () => {
  const jobs = fleet({ 8004: 30 });
  const target = jobs[4];
  const failed = failedOf(target);
  const rig = new RedeployRig(new CasSimulator({ credentials: KEYS, deploymentJobs: jobs }));
  let configFile: string;
  const writes = () => rig.creates() + rig.cas.callsOf(UPDATE);

  beforeAll(async () => {
    await rig.start();
    configFile = await rig.config("certwatch");
  });
  afterAll(() => rig.stop());

  it("exits 2 with a clear message when the source has no contactIds", async () => {
    const result = await redeploy(await rig.config("no-contacts", ""), "8004");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("ali-deploy: set contactIds");
    expect(writes()).toBe(0);
  });

  it("refuses an --at in the past with exit 2, allowing a minute of clock skew", async () => {
    const past = new Date(Date.now() - 5 * 60_000).toISOString();
    const result = await redeploy(configFile, "8004", "--at", past, "--dry-run");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      new RegExp(`^--at: ${past} is in the past \\(it is now \\S+\\); give a later time, or leave --at out`),
    );
    const skewed = new Date(Date.now() - 30_000).toISOString();
    expect((await redeploy(configFile, "8004", "--at", skewed, "--dry-run")).code).toBe(0);
    expect(writes()).toBe(0);
  });

  it("the first sweep alerts on the two failed workers, with the exact redeploy command as the action", async () => {
    const summary = await sweep(configFile);
    const fired = summary.alerts.filter(
      (a) => a.transition !== "resolved" && a.fingerprint.startsWith("deployment:"),
    );
    expect(fired.map((a) => a.fingerprint).sort()).toEqual(
      failed.map((w) => `deployment:ali-deploy/deployment-task/8004/${w.Id}`).sort(),
    );
    expect(textOf(rig.slack.posts)).toContain("certwatch redeploy --source ali-deploy --job 8004");
    const alert = {
      rule: "deployment",
      stage: "failed",
      transition: "new",
      object: { details: { jobId: "8004" }, labels: { source: "ali-deploy", provider: "aliyun" } },
    } as unknown as Parameters<(typeof messages)["en"]["action"]>[0];
    expect(messages["zh-CN"].action(alert)).toContain("certwatch redeploy --source ali-deploy --job 8004");
  });

  it("a dry run prints the plan and calls nothing that writes", async () => {
    const result = await redeploy(configFile, "8004", "--dry-run");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("dry run: nothing created");
    expect(result.stdout).toContain(`ResourceIds ${failed.map((w) => w.ResourceId).join(",")}`);
    expect(result.stdout).toContain("ContactIds 1,2");
    expect(rig.cas.callsOf("ListWorkerResource")).toBeGreaterThan(0);
    expect(writes()).toBe(0);
  });

  it("a refused CreateDeploymentJob exits 1 with CAS's words, creates nothing, and leaves the workers free to retry", async () => {
    // A vendor message that quotes a secret must not carry it to the terminal.
    rig.cas.refuseNext(CREATE, 400, "InvalidParameter", `CertIds is not valid for ${KEYS.secretKey}.`);
    const result = await redeploy(configFile, "8004");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("CAS refused the redeploy of job 8004");
    expect(result.stderr).toContain("InvalidParameter");
    expect(result.stderr).not.toContain(KEYS.secretKey);
    expect(rig.creates()).toBe(1);
    expect(rig.cas.callsOf(UPDATE)).toBe(0);
    expect(jobs.some((job) => job.Id >= 9000)).toBe(false);
  });

  it("a real run creates exactly one job for the failed workers and moves it to pending", async () => {
    const at = new Date(Date.now() + 2 * HOUR_MS).toISOString();
    const result = await redeploy(configFile, "8004", "--at", at);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("redeploy job 9000 created for 2 failed worker(s) and moved to pending");
    expect(rig.creates()).toBe(2);
    expect(rig.cas.callsOf(UPDATE)).toBe(1);
    expect(target?.JobType).toBe("cloud");
    expect(rig.cas.created.get(9000)).toMatchObject({
      Name: "certwatch redeploy of job 8004",
      // Job 8004 deploys to another cloud's CDN: its repair is a `cloud` job too, or CAS refuses it.
      JobType: "cloud",
      CertIds: String(target?.workers[0]?.CertId),
      ResourceIds: failed.map((w) => w.ResourceId).join(","),
      ContactIds: "1,2",
      ScheduleTime: String(Date.parse(at)),
    });
    const created = jobs.find((job) => job.Id === 9000);
    expect(created?.Status).toBe("pending");
    expect(created?.workers.map((w) => w.ResourceId)).toEqual(failed.map((w) => w.ResourceId));
  });

  it("a second run inside the window names the earlier job and creates nothing", async () => {
    const result = await redeploy(configFile, "8004");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("already redeployed as job 9000");
    expect(rig.creates()).toBe(2);
    expect(rig.cas.callsOf(UPDATE)).toBe(1);
  });

  it("the next sweep's digest announces the redeploy once, with no acknowledge command", async () => {
    const before = rig.slack.posts.length;
    const summary = await sweep(configFile);
    const announced = textOf(rig.slack.posts.slice(before));
    expect(announced).toContain(
      "redeploy job 9000 created for 2 failed workers of job 8004 (with certwatch redeploy)",
    );
    expect(announced).toContain("the failed-worker alerts resolve when job 9000 succeeds");
    expect(announced).not.toContain("certwatch ack redeploy:");
    expect(summary.deliveries[0]?.sent).toBe(1);
    const quiet = rig.slack.posts.length;
    await sweep(configFile);
    expect(textOf(rig.slack.posts.slice(quiet))).not.toContain("redeploy job 9000");
  });

  it("while job 9000 runs, a worker fixed by other means does not make the rest a new set to redeploy", async () => {
    // Someone deploys to the first failed worker's resource by hand in the console: a job of its own.
    const [first] = failed;
    if (!first || !target) throw new Error("no failed worker");
    jobs.push({
      ...target,
      Id: 8100,
      Name: "by hand",
      Status: "success",
      workers: [{ ...first, Id: 30_000, JobId: 8100, Status: "success", GmtModified: String(Date.now()) }],
    });
    const summary = await sweep(configFile);
    expect(summary.alerts.filter((a) => a.transition === "resolved").map((a) => a.fingerprint)).toEqual([
      `deployment:ali-deploy/deployment-task/8004/${first.Id}`,
    ]);
    const result = await redeploy(configFile, "8004");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`worker ${first.Id} (error) left out`);
    expect(result.stdout).toContain("already redeployed as job 9000");
    expect(rig.creates()).toBe(2);
  });

  it("once the new job succeeds, the next sweep resolves the original alerts though CAS leaves them failed", async () => {
    for (let tick = 0; tick < 3; tick++) rig.cas.advanceJobs();
    expect(jobs.find((job) => job.Id === 9000)?.Status).toBe("success");
    expect(failedOf(target)).toHaveLength(2);
    const summary = await sweep(configFile);
    const resolved = summary.alerts.filter((a) => a.transition === "resolved");
    expect(resolved.map((a) => a.fingerprint)).toEqual([
      `deployment:ali-deploy/deployment-task/8004/${failed[1]?.Id}`,
    ]);
    expect(resolved[0]?.summary).toContain(
      "redeployed successfully by job 9000 (certwatch redeploy of job 8004)",
    );
    const nothing = await redeploy(configFile, "8004", "--force");
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain("nothing to redeploy");
    for (const worker of failed)
      expect(nothing.stdout).toContain(`worker ${worker.Id} (${worker.Status}) left out`);
    expect(rig.creates()).toBe(2);
  });

  it("exits 1 with the vendor's refusal for a job CAS does not know", async () => {
    const result = await redeploy(configFile, "7777");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("could not list the workers of job 7777");
    expect(result.stderr).toContain("InvalidJobId.NotFound");
  });
});

describe("a redeploy CAS answers unclearly, or that two runs start at once", () => {
  const jobs = fleet({ 8001: 10, 8002: 20, 8003: 30, 8004: 40, 8005: 50 });
  const rig = new RedeployRig(new CasSimulator({ credentials: KEYS, deploymentJobs: jobs }));
  let configFile: string;

  beforeAll(async () => {
    await rig.start();
    configFile = await rig.config("certwatch");
  });
  afterAll(() => rig.stop());

  it("a 5xx from CreateDeploymentJob is not retried (the job may exist): exit 1, and the workers stay held", async () => {
    rig.cas.refuseNext(CREATE, 500, "InternalError", "The request processing has failed.");
    const result = await redeploy(configFile, "8001");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("got no clear answer");
    expect(result.stderr).toContain('Look for a job "certwatch redeploy of job 8001" in the CAS console');
    expect(rig.creates()).toBe(1);
    const again = await redeploy(configFile, "8001");
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("ended unknown");
    expect(again.stdout).toContain("--force");
    expect(rig.creates()).toBe(1);
    const forced = await redeploy(configFile, "8001", "--force");
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/redeploy job \d+ created for 2 failed worker\(s\) and moved to pending/);
    expect(rig.creates()).toBe(2);
  });

  it("a 200 without a JobId is no clear answer either: the workers are held, not released for a second job", async () => {
    rig.cas.answerNext(CREATE, 200, {});
    const creates = rig.creates();
    const result = await redeploy(configFile, "8005");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("got no clear answer");
    expect(result.stderr).toContain("JobId");
    const again = await redeploy(configFile, "8005");
    expect(again.stdout).toContain("ended unknown");
    expect(rig.creates()).toBe(creates + 1);
  });

  it("a throttled CreateDeploymentJob is retried (a refusal, nothing was done) and creates one job", async () => {
    rig.cas.refuseNext(CREATE, 400, "Throttling.User", "Request was denied due to user flow control.");
    const jobsBefore = jobs.length;
    const creates = rig.creates();
    const result = await redeploy(configFile, "8002");
    expect(result.code).toBe(0);
    expect(rig.creates()).toBe(creates + 2);
    expect(jobs.length).toBe(jobsBefore + 1);
  });

  it("a job created but not scheduled is scheduled by the next run, not created again", async () => {
    rig.cas.refuseNext(UPDATE, 400, "InvalidStatus", "The deployment job cannot be moved now.");
    const created = await redeploy(configFile, "8003");
    expect(created.code).toBe(1);
    expect(created.stdout).toContain("but is still editing");
    const newJob = jobs.at(-1);
    expect(newJob?.Status).toBe("editing");
    const creates = rig.creates();
    const scheduled = await redeploy(configFile, "8003");
    expect(scheduled.code).toBe(0);
    expect(scheduled.stdout).toContain(`redeploy job ${newJob?.Id} (created earlier)`);
    expect(scheduled.stdout).toContain("moved to pending");
    expect(rig.creates()).toBe(creates);
    expect(newJob?.Status).toBe("pending");
  });

  /** Runs `body` with redeployJob's context on the rig's store, opened in this process. */
  async function inProcess(
    body: (context: RedeployContext, source: DeploymentJobsSourceConfig) => Promise<void>,
  ): Promise<void> {
    const config = await loadConfig(configFile);
    const opened = await openStore(config.store, { dryRun: false });
    const http = new HttpClient();
    try {
      const context: RedeployContext = {
        config,
        store: opened.store,
        http,
        now: new Date(),
        warn: () => undefined,
        redact: (text: string) => text,
      };
      await body(context, config.sources[0] as DeploymentJobsSourceConfig);
    } finally {
      await http.close();
      await opened.close();
    }
  }

  it("two redeploys of the same workers started together create one job: the store claim decides", async () => {
    // Job 8000 succeeded everywhere; make two of its workers fail for this race.
    const job = jobs[0] as DeploymentJobRecord;
    for (const worker of job.workers.slice(0, 2)) worker.Status = "error";
    await inProcess(async (context, source) => {
      const request = { source, jobId: String(job.Id), trigger: "manual" as const };
      const creates = rig.creates();
      const results = await Promise.all([redeployJob(request, context), redeployJob(request, context)]);
      expect(results.map((result) => result.outcome).sort()).toEqual(["created", "held"]);
      expect(rig.creates()).toBe(creates + 1);
    });
  });

  it("a claim left by a run that stopped midway is announced as unknown once its lease is over", async () => {
    await inProcess(async (context, source) => {
      const request = { source, jobId: "8004", trigger: "automatic" as const };
      const planned = await redeployJob({ ...request, dryRun: true }, context);
      if (planned.outcome !== "planned") throw new Error(`expected a plan, got ${planned.outcome}`);
      const { plan } = planned;
      const hourAgo = new Date(context.now.getTime() - HOUR_MS);
      await context.store.redeploys.claim(
        {
          source: source.name,
          workerSet: plan.workerSet,
          state: "claimed",
          trigger: "automatic",
          claimId: "a-run-that-died",
          fromJob: "8004",
          workers: plan.workers.map((w) => w.worker),
          resourceIds: plan.params.ResourceIds.split(","),
          certIds: [plan.params.CertIds],
          at: hourAgo.toISOString(),
          until: new Date(hourAgo.getTime() + 24 * HOUR_MS).toISOString(),
        },
        context.now,
      );
      const creates = rig.creates();
      const result = await redeployJob(request, context);
      expect(result.outcome).toBe("held");
      expect(result.notice?.stage).toBe("unknown");
      expect(result.notice?.summary).toContain("a job may exist");
      expect(result.recorded.map((entry) => entry.receiver)).toEqual(["ops-slack"]);
      const again = await redeployJob(request, context);
      expect(again.outcome).toBe("held");
      expect(again.recorded).toEqual([]);
      expect(rig.creates()).toBe(creates);
    });
  });
});

describe("remediation.redeployFailedWorkers: redeploys after each sweep, announced, bounded", () => {
  // Job 8002 failed 50 hours ago, 8005 20 hours ago, 8003 10 hours ago: the oldest goes first.
  const jobs = fleet({ 8002: 50, 8005: 20, 8003: 10 });
  const rig = new RedeployRig(new CasSimulator({ credentials: KEYS, deploymentJobs: jobs }));
  let configFile: string;
  const automation = "remediation: { redeployFailedWorkers: true, maxJobsPerRun: 1 }\n";

  beforeAll(async () => {
    await rig.start();
    configFile = await rig.config("certwatch", "\n    contactIds: [7]", automation);
  });
  afterAll(() => rig.stop());

  it("is refused by validate without contactIds, naming the key", async () => {
    const result = await run("validate", "--config", await rig.config("bad", "", automation));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("sources[0].contactIds");
    expect(result.stderr).toContain("redeployFailedWorkers");
  });

  it("the first sweep alerts, redeploys the oldest failed job only, and announces it in the same digest", async () => {
    const summary = await sweep(configFile);
    expect(summary.remediation).toEqual({
      jobs: [{ source: "ali-deploy", fromJob: "8002", outcome: "created", workers: 2, jobId: "9000" }],
      waiting: 2,
    });
    expect(rig.cas.created.get(9000)).toMatchObject({
      ContactIds: "7",
      Name: "certwatch redeploy of job 8002",
      JobType: "user",
    });
    expect(jobs.find((job) => job.Id === 9000)?.Status).toBe("pending");
    const digest = textOf(rig.slack.posts);
    expect(digest).toContain("deployment to");
    expect(digest).toContain("redeploy job 9000 created for 2 failed workers of job 8002 (automatically)");
  });

  it("the next sweep redeploys the job that waited, not one whose alerts are acknowledged; then nothing more", async () => {
    for (const worker of failedOf(jobs.find((job) => job.Id === 8003))) {
      const fingerprint = `deployment:ali-deploy/deployment-task/8003/${worker.Id}`;
      const acked = await run(
        "ack",
        fingerprint,
        "--until",
        "7d",
        "--reason",
        "fixing by hand",
        "--config",
        configFile,
      );
      expect(acked.code).toBe(0);
    }
    const second = await sweep(configFile);
    expect(second.remediation?.jobs.map((job) => [job.fromJob, job.outcome, job.jobId])).toEqual([
      ["8005", "created", "9001"],
    ]);
    expect(second.remediation?.waiting).toBe(0);
    const third = await sweep(configFile);
    expect(third.remediation).toEqual({ jobs: [], waiting: 0 });
    expect(rig.creates()).toBe(2);
  });

  it("a job certwatch created that fails is announced with the manual command, never redeployed by itself", async () => {
    rig.cas.failJobs.add(9001);
    for (let tick = 0; tick < 3; tick++) rig.cas.advanceJobs();
    expect(jobs.find((job) => job.Id === 9001)?.Status).toBe("error");
    const before = rig.slack.posts.length;
    const summary = await sweep(configFile);
    const fresh = textOf(rig.slack.posts.slice(before));
    expect(fresh).toContain("certwatch redeploy --source ali-deploy --job 9001");
    expect(
      summary.alerts
        .filter((a) => a.transition === "resolved")
        .map((a) => a.summary)
        .join(),
    ).toContain("redeployed successfully by job 9000");
    expect(summary.remediation).toEqual({ jobs: [], waiting: 0 });
    expect(rig.creates()).toBe(2);
  });

  it("a job whose automatic redeploy did not fix it is not redeployed again after the window: a person decides", async () => {
    // Three days on: past the window. The CLI refuses to record a --now ahead of the clock, so the run is the
    // library's, on the same config and store.
    const config = await loadConfig(configFile);
    const opened = await openStore(config.store, { dryRun: false });
    const http = new HttpClient();
    const later = new Date(Date.now() + 3 * 24 * HOUR_MS);
    const summary = await runSweep({
      config,
      store: opened.store,
      http,
      now: later,
      purgeHistory: true,
    }).finally(async () => {
      await http.close();
      await opened.close();
    });
    expect(summary.remediation).toEqual({ jobs: [], waiting: 0 });
    expect(rig.creates()).toBe(2);
  });
});

describe("certwatch redeploy --all-workers: a renewed certificate pushed to every worker of a job", () => {
  // Every job succeeded everywhere with its old certificate: there is no failed worker to redeploy.
  const jobs = fleet({});
  const target = jobs[2] as DeploymentJobRecord;
  const renewed = "12000099";
  const rig = new RedeployRig(new CasSimulator({ credentials: KEYS, deploymentJobs: jobs }));
  let configFile: string;
  const writes = () => rig.creates() + rig.cas.callsOf(UPDATE);

  beforeAll(async () => {
    await rig.start();
    configFile = await rig.config("certwatch");
  });
  afterAll(() => rig.stop());

  it("--all-workers without --cert exits 2, saying so, before asking CAS anything", async () => {
    const result = await redeploy(configFile, "8002", "--all-workers");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--all-workers needs --cert CERT_ID: the renewed certificate's CertId");
    expect(rig.cas.callsOf("ListWorkerResource")).toBe(0);
    expect(writes()).toBe(0);
  });

  it("without --all-workers, a job whose workers all succeeded has nothing to redeploy", async () => {
    expect(target.workers.every((w) => w.Status === "success" && String(w.CertId) !== renewed)).toBe(true);
    const result = await redeploy(configFile, "8002");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("job 8002 has no failed workers; nothing to redeploy");
    expect(writes()).toBe(0);
  });

  it("a dry run plans every worker with the renewed certificate and writes nothing", async () => {
    const result = await redeploy(configFile, "8002", "--all-workers", "--cert", renewed, "--dry-run");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("dry run: nothing created");
    expect(result.stdout).toContain(`job 8002: all 4 worker(s), with certificate ${renewed}`);
    expect(result.stdout).toContain(
      `CertIds ${renewed}, ResourceIds ${target.workers.map((w) => w.ResourceId).join(",")}`,
    );
    expect(writes()).toBe(0);
  });

  it("creates one job for all four resources with the renewed CertId, and moves it to pending", async () => {
    const result = await redeploy(configFile, "8002", "--all-workers", "--cert", renewed);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `redeploy job 9000 created for 4 worker(s) of job 8002 with certificate ${renewed} and moved to pending`,
    );
    expect(result.stdout).not.toContain("failed worker");
    expect(rig.creates()).toBe(1);
    expect(rig.cas.callsOf(UPDATE)).toBe(1);
    // Exactly what CreateDeploymentJob received: no ScheduleTime, as no --at was given.
    expect(rig.cas.created.get(9000)).toEqual({
      Name: "certwatch redeploy of job 8002, all workers",
      JobType: target.JobType,
      CertIds: renewed,
      ResourceIds: target.workers.map((w) => w.ResourceId).join(","),
      ContactIds: "1,2",
    });
    const created = jobs.find((job) => job.Id === 9000);
    expect(created?.Status).toBe("pending");
    expect(created?.workers.map((w) => [w.ResourceId, String(w.CertId)])).toEqual(
      target.workers.map((w) => [w.ResourceId, renewed]),
    );
  });

  it("a second identical command inside the window names the earlier job and creates nothing", async () => {
    const result = await redeploy(configFile, "8002", "--all-workers", "--cert", renewed);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `already redeployed as job 9000 (4 worker(s) of job 8002 with certificate ${renewed})`,
    );
    expect(result.stdout).toContain("or run again with --force");
    expect(writes()).toBe(2);
  });

  it("the next sweep's digest announces it once, as a redeploy of all workers with the renewed certificate", async () => {
    const summary = await sweep(configFile);
    const announced = textOf(rig.slack.posts);
    expect(announced).toContain(
      `redeploy job 9000 created for 4 workers of job 8002 with certificate ${renewed} (with certwatch redeploy)`,
    );
    expect(announced).toContain(
      `nothing to do: job 9000 deploys certificate ${renewed} to every worker of job 8002`,
    );
    expect(announced).not.toContain("failed worker");
    expect(summary.deliveries[0]?.sent).toBe(1);
  });

  it("the notice reads the same in Chinese, and repeats the command with --all-workers and --cert", async () => {
    const config = await loadConfig(configFile);
    const opened = await openStore(config.store, { dryRun: false });
    const http = new HttpClient();
    const source = config.sources[0] as DeploymentJobsSourceConfig;
    try {
      const context = { config, store: opened.store, http, now: new Date(), warn: () => undefined };
      const held = await redeployJob(
        { source, jobId: "8002", allWorkers: true, cert: renewed, dryRun: true, trigger: "manual" },
        { ...context, redact: (text: string) => text },
      );
      if (held.outcome !== "held") throw new Error(`expected the redeploy held, got ${held.outcome}`);
      expect(held.earlier).toMatchObject({
        scope: "all",
        jobId: "9000",
        certIds: [renewed],
        state: "pending",
      });
      const notice = redeployNotice(held.earlier, held.plan, source);
      expect(messages["zh-CN"].when(notice)).toBe(
        `已为任务 8002 的全部 4 个部署（证书 ${renewed}）创建重新部署任务 9000（通过 certwatch redeploy）`,
      );
      // Had it not been scheduled, the action repeats the command as it was given.
      const editing = { ...notice, stage: "editing" };
      const command = `certwatch redeploy --source ali-deploy --job 8002 --all-workers --cert ${renewed}`;
      expect(messages.en.action(editing)).toBe(`schedule job 9000: ${command}`);
      expect(messages["zh-CN"].action(editing)).toBe(`启动任务 9000：${command}`);
    } finally {
      await http.close();
      await opened.close();
    }
    expect(rig.creates()).toBe(1);
  });

  it("--force creates another job for all workers inside the window", async () => {
    const result = await redeploy(configFile, "8002", "--all-workers", "--cert", renewed, "--force");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `redeploy job 9001 created for 4 worker(s) of job 8002 with certificate ${renewed}`,
    );
    expect(rig.cas.created.get(9001)).toMatchObject({
      CertIds: renewed,
      ResourceIds: rig.cas.created.get(9000)?.ResourceIds,
    });
    expect(rig.creates()).toBe(2);
  });
});
