import { randomUUID } from "node:crypto";
import { request } from "undici";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { SourceConfig } from "../lib/config/schema.js";
import { AliyunClient, rpcQuery } from "../lib/sources/aliyun/client.js";
import { signCall } from "../lib/sources/aliyun/signer.js";
import { ApiError, HttpClient, newCallStats } from "../lib/sources/http.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { clientCertificateFleet, deploymentFleet, sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { deliberately } from "./contract/setup.js";

const KEYS = { accessKey: "LTAI5tTESTACCESSKEY00", secretKey: "aliyun-test-secret-1234" };
const CREATE = "CreateDeploymentJob";
const UPDATE = "UpdateDeploymentJobStatus";

/**
 * Five finished jobs; their workers' resources are the only ResourceIds the simulator knows. The fifth deploys to
 * another cloud's resources (workers with a CloudName).
 */
function fleet() {
  const jobs = deploymentFleet({ jobs: 5, workersPerJob: 2, now: new Date() });
  // Everything settled, so advanceJobs() only moves the jobs a test creates.
  for (const job of jobs) {
    job.Status = "success";
    for (const worker of job.workers) worker.Status = "success";
  }
  return jobs;
}

interface Rig {
  cas: CasSimulator;
  http: HttpClient;
  client: AliyunClient;
  /** Resources on Alibaba Cloud's own services. */
  knownResources: number[];
  /** Resources on another cloud. */
  otherCloudResources: number[];
  /** A fleet job that has already ended in success. */
  settledJobId: string;
}

async function startRig(): Promise<Rig> {
  const jobs = fleet();
  const resources = (cloud: boolean) =>
    jobs.flatMap((job) =>
      job.workers.filter((w) => (w.CloudName !== undefined) === cloud).map((w) => w.ResourceId),
    );
  const knownResources = resources(false);
  const otherCloudResources = resources(true);
  const cas = new CasSimulator({ credentials: KEYS, deploymentJobs: jobs });
  const url = await cas.listen();
  // The real config path, so the client signs exactly as a sweep or `certwatch redeploy` would.
  const config = await parseConfig(
    `
sources:
  - name: ali-deploy
    type: aliyun-deployment-jobs
    endpoint: ${url}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    qps: 1000
    timeout: 2s
receivers: [{ name: ops, type: slack, webhookUrl: "http://127.0.0.1:9/services/T/B/unused" }]
`,
    "cas-deployment-jobs.yml",
  );
  const source = config.sources[0] as Extract<SourceConfig, { type: "aliyun-deployment-jobs" }>;
  const http = new HttpClient();
  const client = new AliyunClient(source, {
    http,
    stats: newCallStats(),
    previous: new Map(),
    warn: () => undefined,
  });
  return { cas, http, client, knownResources, otherCloudResources, settledJobId: String(jobs[0]?.Id) };
}

/** The ApiError a call is refused with; fails the test when the call succeeds or fails some other way. */
async function refusal(call: Promise<unknown>): Promise<ApiError> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, "the call should have been refused").toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("CAS simulator: CreateDeploymentJob and UpdateDeploymentJobStatus refuse what the vendor refuses", () => {
  let rig: Rig;
  let good: Record<string, string>;

  beforeEach(async () => {
    rig = await startRig();
    good = {
      Name: "renew shop",
      JobType: "user",
      CertIds: "12342649",
      ResourceIds: rig.knownResources.join(","),
      ContactIds: "1,2",
    };
  });
  afterEach(async () => {
    await rig.http.close();
    await rig.cas.close();
  });

  const totalJobs = async (): Promise<number> => {
    const body = await rig.client.rpc("ListDeploymentJob", { CurrentPage: 1, ShowSize: 100 });
    return Number(body.Total);
  };
  const jobStatus = async (jobId: string): Promise<string | undefined> => {
    const body = await rig.client.rpc("ListDeploymentJob", { CurrentPage: 1, ShowSize: 100 });
    const job = (body.Data as { Id: number; Status: string }[]).find((j) => String(j.Id) === jobId);
    return job?.Status;
  };
  const workerStatuses = async (jobId: string): Promise<string[]> => {
    const body = await rig.client.rpc("ListWorkerResource", { JobId: jobId, CurrentPage: 1, ShowSize: 50 });
    return (body.Data as { Status: string }[]).map((w) => w.Status);
  };
  const create = async (params: Record<string, string> = good): Promise<string> => {
    const body = await rig.client.rpc(CREATE, params);
    return String(body.JobId);
  };
  /** Asserts the create is refused with this HTTP status and code, and that no job appeared. */
  const expectCreateRefused = async (params: Record<string, string>, code: string): Promise<ApiError> => {
    const before = await totalJobs();
    const error = await refusal(deliberately(() => rig.client.rpc(CREATE, params)));
    expect(error.detail.status).toBe(400);
    expect(error.detail.code).toBe(code);
    expect(await totalJobs()).toBe(before);
    return error;
  };

  describe("CreateDeploymentJob", () => {
    for (const name of ["Name", "JobType", "CertIds", "ResourceIds", "ContactIds"]) {
      it(`answers HTTP 400 Missing${name} and creates nothing when mandatory ${name} is left out`, async () => {
        const { [name]: _dropped, ...rest } = good;
        await expectCreateRefused(rest, `Missing${name}`);
      });

      // A client that builds the list from nothing sends it blank; a blank mandatory value is no value at all.
      it(`answers HTTP 400 Missing${name} when ${name} is sent empty`, async () => {
        await expectCreateRefused({ ...good, [name]: "" }, `Missing${name}`);
      });
    }

    for (const jobType of ["USER", "system", "trustee"]) {
      it(`answers HTTP 400 InvalidParameter for JobType ${JSON.stringify(jobType)}: "user" and "cloud" are the values`, async () => {
        const error = await expectCreateRefused({ ...good, JobType: jobType }, "InvalidParameter");
        expect(error.detail.vendorMessage).toContain("JobType");
      });
    }

    it("checks JobType against the resources: user for Alibaba Cloud's own, cloud for other clouds'", async () => {
      const other = rig.otherCloudResources.join(",");
      expect(other).not.toBe("");
      const wrongForOwn = await expectCreateRefused({ ...good, JobType: "cloud" }, "InvalidParameter");
      expect(wrongForOwn.detail.vendorMessage).toContain(String(rig.knownResources[0]));
      await expectCreateRefused({ ...good, JobType: "user", ResourceIds: other }, "InvalidParameter");
      const mixed = `${rig.knownResources[0]},${rig.otherCloudResources[0]}`;
      await expectCreateRefused({ ...good, JobType: "cloud", ResourceIds: mixed }, "InvalidParameter");
      expect(await create({ ...good, JobType: "cloud", ResourceIds: other })).toMatch(/^[1-9]\d*$/);
    });

    const badLists: [string, string][] = [
      ["CertIds", "12342649,abc"],
      ["CertIds", "12342649,,12304338"],
      ["ResourceIds", `${1_286_000},`],
      ["ResourceIds", "-1286000"],
      ["ContactIds", "1,2.5"],
      ["ContactIds", "0"],
      ["ContactIds", ",1"],
    ];
    for (const [name, value] of badLists) {
      it(`answers HTTP 400 InvalidParameter naming ${name} for the id list ${JSON.stringify(value)}`, async () => {
        const error = await expectCreateRefused({ ...good, [name]: value }, "InvalidParameter");
        expect(error.detail.vendorMessage).toContain(name);
      });
    }

    // The vendor's example is 1706613560008: a UNIX timestamp in milliseconds.
    for (const schedule of ["1706613560", "2024-01-30T11:19:20Z", "soon", "", "17066135600080"]) {
      it(`answers HTTP 400 InvalidParameter for ScheduleTime ${JSON.stringify(schedule)}, not a millisecond timestamp`, async () => {
        const error = await expectCreateRefused({ ...good, ScheduleTime: schedule }, "InvalidParameter");
        expect(error.detail.vendorMessage).toContain("ScheduleTime");
      });
    }

    it("answers HTTP 400 InvalidParameter naming the unknown ResourceId, even beside known ones", async () => {
      const known = rig.knownResources[0] as number;
      const error = await expectCreateRefused(
        { ...good, ResourceIds: `${known},999999` },
        "InvalidParameter",
      );
      expect(error.detail.vendorMessage).toContain("999999");
    });

    it("a good create answers a JobId whose job and every worker start editing", async () => {
      const before = await totalJobs();
      const jobId = await create({ ...good, ScheduleTime: String(Date.now() + 3_600_000) });
      expect(jobId).toMatch(/^[1-9]\d*$/);
      expect(await totalJobs()).toBe(before + 1);
      expect(await jobStatus(jobId)).toBe("editing");
      const workers = await workerStatuses(jobId);
      expect(workers).toHaveLength(rig.knownResources.length);
      expect(workers.every((status) => status === "editing")).toBe(true);
      // Nothing runs while editing: a scheduler tick must leave it alone.
      rig.cas.advanceJobs();
      expect(await jobStatus(jobId)).toBe("editing");
    });

    it("two good creates answer two different JobIds", async () => {
      const first = await create();
      const second = await create();
      expect(second).not.toBe(first);
    });
  });

  describe("UpdateDeploymentJobStatus", () => {
    const expectUpdateRefused = async (params: Record<string, string>, code: string): Promise<ApiError> => {
      const error = await refusal(deliberately(() => rig.client.rpc(UPDATE, params)));
      expect(error.detail.status).toBe(400);
      expect(error.detail.code).toBe(code);
      return error;
    };

    it("answers HTTP 400 MissingJobId when JobId is left out or empty", async () => {
      await expectUpdateRefused({ Status: "pending" }, "MissingJobId");
      await expectUpdateRefused({ JobId: "", Status: "pending" }, "MissingJobId");
    });

    it("answers HTTP 400 MissingStatus and leaves the job editing when Status is left out or empty", async () => {
      const jobId = await create();
      await expectUpdateRefused({ JobId: jobId }, "MissingStatus");
      await expectUpdateRefused({ JobId: jobId, Status: "" }, "MissingStatus");
      expect(await jobStatus(jobId)).toBe("editing");
    });

    it("answers HTTP 400 InvalidJobId.NotFound for a job that does not exist", async () => {
      await expectUpdateRefused({ JobId: "424242", Status: "pending" }, "InvalidJobId.NotFound");
      await expectUpdateRefused({ JobId: "not-a-job", Status: "pending" }, "InvalidJobId.NotFound");
    });

    it("editing → pending is accepted and moves the job and its workers to pending", async () => {
      const jobId = await create();
      const body = await rig.client.rpc(UPDATE, { JobId: jobId, Status: "pending" });
      expect(typeof body.RequestId).toBe("string");
      expect(await jobStatus(jobId)).toBe("pending");
      expect(new Set(await workerStatuses(jobId))).toEqual(new Set(["pending"]));
    });

    it("pending → editing is accepted: a scheduled job can be taken back", async () => {
      const jobId = await create();
      await rig.client.rpc(UPDATE, { JobId: jobId, Status: "pending" });
      await rig.client.rpc(UPDATE, { JobId: jobId, Status: "editing" });
      expect(await jobStatus(jobId)).toBe("editing");
      expect(new Set(await workerStatuses(jobId))).toEqual(new Set(["editing"]));
    });

    it("pending → success is refused with HTTP 400 InvalidStatus: only the scheduler finishes a job", async () => {
      const jobId = await create();
      await rig.client.rpc(UPDATE, { JobId: jobId, Status: "pending" });
      await expectUpdateRefused({ JobId: jobId, Status: "success" }, "InvalidStatus");
      expect(await jobStatus(jobId)).toBe("pending");
    });

    it("editing → success and editing → editing are refused with HTTP 400 InvalidStatus", async () => {
      const jobId = await create();
      await expectUpdateRefused({ JobId: jobId, Status: "success" }, "InvalidStatus");
      await expectUpdateRefused({ JobId: jobId, Status: "editing" }, "InvalidStatus");
      expect(await jobStatus(jobId)).toBe("editing");
    });

    it("a job the scheduler has taken (scheduling, then processing) can no longer be moved", async () => {
      const jobId = await create();
      await rig.client.rpc(UPDATE, { JobId: jobId, Status: "pending" });
      for (const running of ["scheduling", "processing"]) {
        rig.cas.advanceJobs();
        expect(await jobStatus(jobId)).toBe(running);
        for (const wanted of ["editing", "pending", "success"]) {
          const error = await expectUpdateRefused({ JobId: jobId, Status: wanted }, "InvalidStatus");
          expect(error.detail.vendorMessage).toContain(running);
        }
        expect(await jobStatus(jobId)).toBe(running);
      }
    });

    it("a finished job cannot be put back to pending", async () => {
      await expectUpdateRefused({ JobId: rig.settledJobId, Status: "pending" }, "InvalidStatus");
      expect(await jobStatus(rig.settledJobId)).toBe("success");
    });
  });
});

/** One signed call with any action, version and query, as a client that gets them wrong would send it. */
async function signedCall(
  base: string,
  action: string,
  version: string,
  query: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const url = new URL(`/?${query}`, base);
  const headers = signCall({ action, version, method: "POST", url }, KEYS, new Date(), randomUUID());
  const response = await request(url, { method: "POST", headers });
  return {
    status: response.statusCode,
    body: (await response.body.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

describe("CAS simulator: the vendor's contract, including its inconvenient parts", () => {
  const now = new Date("2026-11-22T00:00:00Z");
  const sslCertificates = sslCertificateFleet({ count: 40, now, seed: 3 });
  const clientCertificates = clientCertificateFleet({ count: 20, now });
  const cas = new CasSimulator({ credentials: KEYS, sslCertificates, clientCertificates, now });
  let base: string;
  beforeAll(async () => {
    base = await cas.listen();
  });
  afterAll(async () => {
    await cas.close();
  });
  const page = (query: string) => `${query}&CurrentPage=1&ShowSize=100`;
  const valid = sslCertificates.filter((c) => !c.Revoked && c.NotAfter > now.getTime());
  const expired = sslCertificates.filter((c) => !c.Revoked && c.NotAfter <= now.getTime());

  it("answers an action under the other API version, or one it does not have, with 404 InvalidAction.NotFound", async () => {
    for (const [action, version] of [
      ["ListClientCertificate", "2020-04-07"],
      ["DescribeClientCertificateStatus", "2020-04-07"],
      ["ListCertificates", "2020-06-30"],
      ["ListDeploymentJob", "2020-06-30"],
      ["NoSuchAction", "2020-04-07"],
    ] as const) {
      const answer = await deliberately(() => signedCall(base, action, version, "CurrentPage=1"));
      expect(answer.status, `${action} under ${version}`).toBe(404);
      expect(answer.body.Code).toBe("InvalidAction.NotFound");
    }
    const right = await signedCall(base, "ListClientCertificate", "2020-06-30", "CurrentPage=1");
    expect(right.status).toBe(200);
  });

  it("ListUserCertificateOrder CERT rows: only valid certificates unless Status asks, dates only, no Status field", async () => {
    const call = (query: string) => signedCall(base, "ListUserCertificateOrder", "2020-04-07", page(query));
    const listed = async (query: string) => {
      const answer = await call(query);
      expect(answer.status).toBe(200);
      return answer.body.CertificateOrderList as Record<string, unknown>[];
    };
    const byDefault = await listed("OrderType=CERT");
    expect(byDefault.map((row) => row.CertificateId).sort()).toEqual(
      valid.map((c) => c.CertificateId).sort(),
    );
    const expiredRows = await listed("OrderType=CERT&Status=EXPIRED");
    expect(expiredRows.map((row) => row.CertificateId).sort()).toEqual(
      expired.map((c) => c.CertificateId).sort(),
    );
    expect(expired.length).toBeGreaterThan(0);
    for (const row of [...byDefault, ...expiredRows]) {
      expect(Object.keys(row)).not.toEqual(expect.arrayContaining(["Status"]));
      for (const absent of ["Status", "CertEndTime", "CertStartTime", "Domain", "Algorithm"]) {
        expect(row[absent], absent).toBeUndefined();
      }
      expect(row.EndDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(typeof row.Expired).toBe("boolean");
    }
    // The default OrderType is CPACK (quota orders), which lists no certificates at all.
    expect(await listed("")).toEqual([]);
  });

  it("ListCertificates: the exact NotAfter, each status on request, SANs as a real array", async () => {
    const answer = await signedCall(
      base,
      "ListCertificates",
      "2020-04-07",
      page("CertificateStatus=expired"),
    );
    const rows = answer.body.CertificateList as Record<string, unknown>[];
    expect(rows.map((row) => row.CertificateId).sort()).toEqual(
      expired.map((c) => String(c.CertificateId)).sort(),
    );
    for (const row of rows) {
      const cert = expired.find((c) => String(c.CertificateId) === row.CertificateId);
      expect(row.NotAfter).toBe(cert?.NotAfter);
      expect(row.SubjectAlternativeNames).toEqual(cert?.Sans);
    }
    const refused = await deliberately(() =>
      signedCall(base, "ListCertificates", "2020-04-07", page("CertificateStatus=EXPIRED")),
    );
    expect(refused.status).toBe(400);
  });

  it("serves private-CA SANs as a JSON array of {Type, Value} in a string", async () => {
    const answer = await signedCall(base, "ListClientCertificate", "2020-06-30", "CurrentPage=1&ShowSize=50");
    const rows = answer.body.CertificateList as { Sans: string }[];
    const withSans = rows.filter((row) => row.Sans !== "");
    expect(withSans.length).toBeGreaterThan(0);
    for (const row of withSans) {
      const parsed = JSON.parse(row.Sans.replace(/,\s*\]$/, "]")) as { Type: number; Value: string }[];
      expect(parsed.every((san) => [1, 2, 6, 7].includes(san.Type) && typeof san.Value === "string")).toBe(
        true,
      );
    }
  });

  it("reads the query as sent: a space sent as '+' fails the signature, which encodes it as %20", async () => {
    const plus = await deliberately(() =>
      signedCall(base, "ListCertificates", "2020-04-07", "Keyword=web+00001&CurrentPage=1"),
    );
    expect(plus.status).toBe(400);
    expect(plus.body.Code).toBe("SignatureDoesNotMatch");
    const encoded = await signedCall(
      base,
      "ListCertificates",
      "2020-04-07",
      rpcQuery({ Keyword: "web 00001" }),
    );
    expect(encoded.status).toBe(200);
  });

  it("answers a caller over its budget with Throttling.User and how long to wait in x-acs-retry-after (ms)", async () => {
    const paced = new CasSimulator({ credentials: KEYS, sslCertificates, now, qps: 2 });
    const pacedBase = await paced.listen();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        signedCall(pacedBase, "ListCertificates", "2020-04-07", "CurrentPage=1"),
      ),
    ).finally(() => paced.close());
    const throttled = answers.filter((answer) => answer.status !== 200);
    expect(throttled.length).toBeGreaterThan(0);
    for (const answer of throttled) {
      expect(answer.body.Code).toBe("Throttling.User");
      expect(Number(answer.headers["x-acs-retry-after"])).toBeGreaterThan(0);
    }
  });

  it("a client over the budget waits as x-acs-retry-after says, then gets every answer", async () => {
    const paced = new CasSimulator({ credentials: KEYS, sslCertificates, now, qps: 2 });
    const config = await parseConfig(
      `
sources:
  - name: ali-ssl
    type: aliyun-ssl-certificates
    endpoint: ${await paced.listen()}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    qps: 1000
    concurrency: 6
receivers: [{ name: ops, type: slack, webhookUrl: "http://127.0.0.1:9/services/T/B/unused" }]
`,
      "paced.yml",
    );
    const http = new HttpClient();
    const stats = newCallStats();
    const client = new AliyunClient(config.sources[0] as SourceConfig & { type: "aliyun-ssl-certificates" }, {
      http,
      stats,
      previous: new Map(),
      warn: () => undefined,
    });
    try {
      const bodies = await Promise.all(
        Array.from({ length: 4 }, () => client.rpc("ListCertificates", { CurrentPage: 1, ShowSize: 1 })),
      );
      expect(bodies.every((body) => body.TotalCount === sslCertificates.length)).toBe(true);
      expect(stats.throttled).toBeGreaterThan(0);
      expect(stats.retries).toBe(stats.throttled);
    } finally {
      await http.close();
      await paced.close();
    }
  });
});
