import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import type { Output } from "../lib/cli/output.js";
import type { RunSummary } from "../lib/sweep.js";
import { messages } from "../lib/notify/messages.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { deploymentFleet } from "../sim/aliyun-fleet.js";

const KEYS = { accessKey: "LTAI5tTESTACCESSKEY00", secretKey: "aliyun-test-secret-1234" };

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

/** Six jobs; job 8004 has four workers of which two failed (error, rollback_error); resources unique per job. */
function fleet() {
  const jobs = deploymentFleet({ jobs: 6, workersPerJob: 4, now: new Date() });
  jobs.forEach((job, jobIndex) => {
    job.workers.forEach((worker, index) => {
      worker.ResourceId = 1_300_000 + jobIndex * 10 + index;
      if (worker.Status !== "success" && job.Id !== 8004) worker.Status = "success";
    });
    job.Status = "success";
  });
  const target = jobs[4];
  if (!target) throw new Error("no job 8004");
  ["error", "success", "rollback_error", "success"].forEach((status, index) => {
    (target.workers[index] as { Status: string }).Status = status;
  });
  target.Status = "error";
  return jobs;
}

describe("certwatch redeploy against the CAS simulator", () => {
  const jobs = fleet();
  const target = jobs[4] as (typeof jobs)[number];
  const failed = target.workers.filter((w) => w.Status !== "success");
  const cas = new CasSimulator({ credentials: KEYS, deploymentJobs: jobs });
  let dir: string;
  let configFile: string;
  let noContacts: string;
  const writes = () => cas.callsOf("CreateDeploymentJob") + cas.callsOf("UpdateDeploymentJobStatus");
  const sweep = async (): Promise<RunSummary> => {
    const result = await run("sweep", "--config", configFile, "--json");
    return JSON.parse(result.stdout) as RunSummary;
  };

  beforeAll(async () => {
    const url = await cas.listen();
    dir = await mkdtemp(join(tmpdir(), "certwatch-redeploy-"));
    const config = (
      contacts: string,
    ) => `store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }
sources:
  - name: ali-deploy
    type: aliyun-deployment-jobs
    endpoint: ${url}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    region: cn-hangzhou
    timeout: 2s${contacts}
`;
    configFile = join(dir, "certwatch.yml");
    noContacts = join(dir, "no-contacts.yml");
    await writeFile(configFile, config("\n    contactIds: [1, 2]"));
    await writeFile(noContacts, config(""));
  });
  afterAll(async () => {
    await cas.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 2 with a clear message when the source has no contactIds", async () => {
    const result = await redeploy(noContacts, "8004");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("ali-deploy: set contactIds");
    expect(writes()).toBe(0);
  });

  it("the first sweep alerts on the two failed workers, with the exact redeploy command as the action", async () => {
    const summary = await sweep();
    const fired = summary.alerts.filter(
      (a) => a.transition !== "resolved" && a.fingerprint.startsWith("deployment:"),
    );
    expect(fired.map((a) => a.fingerprint).sort()).toEqual(
      failed.map((w) => `deployment:ali-deploy/deployment-task/8004/${w.Id}`).sort(),
    );
    const alert = {
      rule: "deployment",
      stage: "failed",
      transition: "new",
      object: {
        key: "ali-deploy/deployment-task/8004/1",
        details: { jobId: "8004" },
        labels: { source: "ali-deploy", provider: "aliyun" },
      },
    } as unknown as Parameters<(typeof messages)["en"]["action"]>[0];
    expect(messages.en.action(alert)).toContain("certwatch redeploy --source ali-deploy --job 8004");
    expect(messages["zh-CN"].action(alert)).toContain("certwatch redeploy --source ali-deploy --job 8004");
  });

  it("a dry run prints the plan and calls nothing that writes", async () => {
    const result = await redeploy(configFile, "8004", "--dry-run");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("dry run: nothing created");
    expect(result.stdout).toContain(`ResourceIds ${failed.map((w) => w.ResourceId).join(",")}`);
    expect(result.stdout).toContain("ContactIds 1,2");
    expect(cas.callsOf("ListWorkerResource")).toBeGreaterThan(0);
    expect(writes()).toBe(0);
  });

  it("a real run creates exactly one job for the failed workers and moves it to pending", async () => {
    const at = "2026-12-01T02:00:00Z";
    const result = await redeploy(configFile, "8004", "--at", at);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("redeploy job 9000 created for 2 failed worker(s) and moved to pending");
    expect(cas.callsOf("CreateDeploymentJob")).toBe(1);
    expect(cas.callsOf("UpdateDeploymentJobStatus")).toBe(1);
    expect(cas.created.get(9000)).toMatchObject({
      Name: "certwatch redeploy of job 8004",
      JobType: "user",
      CertIds: String(target.workers[0]?.CertId),
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
    expect(cas.callsOf("CreateDeploymentJob")).toBe(1);
    expect(cas.callsOf("UpdateDeploymentJobStatus")).toBe(1);
  });

  it("once the new job succeeds, the next sweep resolves the original failed-worker alerts", async () => {
    for (let tick = 0; tick < 3; tick++) cas.advanceJobs();
    expect(jobs.find((job) => job.Id === 9000)?.Status).toBe("success");
    expect(target.workers.every((w) => w.Status === "success")).toBe(true);
    const summary = await sweep();
    const resolved = summary.alerts.filter((a) => a.transition === "resolved");
    expect(resolved.map((a) => a.fingerprint).sort()).toEqual(
      failed.map((w) => `deployment:ali-deploy/deployment-task/8004/${w.Id}`).sort(),
    );
    const nothing = await redeploy(configFile, "8004");
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain("nothing to redeploy");
  });

  it("exits 1 with the vendor's refusal for a job CAS does not know", async () => {
    const result = await redeploy(configFile, "7777");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("InvalidJobId.NotFound");
  });
});
