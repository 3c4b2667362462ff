import { Agent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { SourceConfig } from "../lib/config/schema.js";
import type { Observation } from "../lib/model/types.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { HuaweiClient } from "../lib/sources/huawei/client.js";
import { huaweiScm, lookUpScmCertificate } from "../lib/sources/huawei/scm.js";
import type { CollectContext } from "../lib/sources/types.js";
import { type ScmCertificate, scmFleet, scmTime } from "../sim/fleet.js";
import { identityCenterFleet, identityCenterSimulator } from "../sim/huawei-identity-center.js";
import { type ScmSim, type ScmSimulatorOptions, scmSimulator } from "../sim/huawei-scm.js";
import { type Exchange, observeExchanges, SimServer } from "../sim/server.js";
import { deliberately } from "./contract/setup.js";
import { KEYS } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const DAY = 86_400_000;
const LIST = "/v3/scm/certificates";
/** The order and filter certwatch lists with, as query parameters. */
const BY_EXPIRY = { sort_key: "certExpiredTime", sort_dir: "ASC", expired_days_since: 1095 };

type ScmSource = Extract<SourceConfig, { type: "huawei-scm" }>;

interface Page {
  certificates: { id: string }[];
  total_count: number;
}

function contextOf(http: HttpClient): CollectContext {
  return { http, stats: newCallStats(), previous: new Map(), warn: () => undefined };
}

/** The SCM simulator with SCM's clock at NOW, and every SCM exchange it answers. */
class ScmRig {
  readonly http = new HttpClient();
  readonly exchanges: Exchange[] = [];
  readonly sim: ScmSim;
  url = "";
  private readonly stopObserving = observeExchanges((exchange) => {
    if (exchange.service === "huawei.scm") this.exchanges.push(exchange);
  });

  constructor(
    readonly certificates: ScmCertificate[] = scmFleet({ count: 120, now: NOW, seed: 7 }),
    options: Partial<ScmSimulatorOptions> = {},
  ) {
    this.sim = scmSimulator({ certificates, credentials: KEYS, clock: () => NOW.getTime(), ...options });
  }

  async start(): Promise<this> {
    this.url = await this.sim.listen();
    return this;
  }

  /** A huawei-scm source as the config loader makes it, with extra YAML keys. */
  async source(extra: string[] = [], endpoint = this.url): Promise<ScmSource> {
    const yaml = [
      "sources:",
      "  - name: hw-scm",
      "    type: huawei-scm",
      `    endpoint: ${endpoint}`,
      `    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }`,
      "    qps: 100",
      "    timeout: 2s",
      ...extra.map((line) => `    ${line}`),
      // Never sent to: the config loads only with a receiver.
      `receivers: [{ name: ops, type: slack, webhookUrl: "http://127.0.0.1:9/services/T/B/unused" }]`,
    ].join("\n");
    return (await parseConfig(yaml, "test.yml")).sources[0] as ScmSource;
  }

  async client(): Promise<HuaweiClient> {
    return new HuaweiClient(await this.source(), contextOf(this.http));
  }

  async stop(): Promise<void> {
    this.stopObserving();
    await this.http.close();
    await this.sim.close();
  }
}

let rig: ScmRig;
afterEach(async () => {
  await rig?.stop();
});

/** Walks a listing by offset, one request a page, as a client that trusts the order would. */
async function walk(client: HuaweiClient, query: Record<string, string | number>): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; ; offset += 10) {
    const page = (await client.get("ListCertificates", LIST, { ...query, limit: 10, offset })) as Page;
    ids.push(...page.certificates.map((certificate) => certificate.id));
    if (offset + 10 >= page.total_count) return ids;
  }
}

async function collect(source: ScmSource, context: CollectContext): Promise<Observation[]> {
  const observations: Observation[] = [];
  for await (const observation of huaweiScm.collect(source, context)) observations.push(observation);
  return observations;
}

/** The instant of an SCM wall-clock time (China time). */
function instantOf(expireTime: string): number {
  return Date.parse(`${expireTime.replace(" ", "T").replace(/\.0$/, "")}+08:00`);
}

const later = (days: number) => scmTime(new Date(NOW.getTime() + days * DAY));

describe("SCM's listing order, as the contract has it", () => {
  it("by default (certUpdateTime DESC) a change moves a certificate to the front", async () => {
    rig = await new ScmRig().start();
    const client = await rig.client();
    const before = await walk(client, {});
    const leastRecent = before.at(-1) as string;
    rig.sim.change(leastRecent, { description: "key rotated" });
    expect(await walk(client, {})).toEqual([leastRecent, ...before.slice(0, -1)]);
  });

  it("so an offset walk in the default order repeats an entry and misses the certificate renewed meanwhile", async () => {
    rig = await new ScmRig().start();
    const client = await rig.client();
    const before = await walk(client, {});
    const walked: string[] = [];
    for (let offset = 0; offset < before.length; offset += 10) {
      const page = (await client.get("ListCertificates", LIST, { limit: 10, offset })) as Page;
      walked.push(...page.certificates.map((certificate) => certificate.id));
      if (offset === 0) rig.sim.change(before[25] as string, { expire_time: later(400) });
    }
    expect(walked).toHaveLength(before.length);
    expect(new Set(walked).size).toBe(before.length - 1);
    expect(walked).not.toContain(before[25]);
  });

  it("certwatch's order (certExpiredTime ASC) moves only a certificate whose expiry changed, to the end", async () => {
    rig = await new ScmRig().start();
    const client = await rig.client();
    const before = await walk(client, BY_EXPIRY);
    expect(before).toHaveLength(rig.certificates.length);
    rig.sim.change(before[5] as string, { description: "edited" });
    expect(await walk(client, BY_EXPIRY)).toEqual(before);

    const renewed = before[3] as string;
    rig.sim.change(renewed, { expire_time: later(800) });
    const after = await walk(client, BY_EXPIRY);
    expect(after.filter((id) => id !== renewed)).toEqual(before.filter((id) => id !== renewed));
    expect(after.at(-1)).toBe(renewed);
  });

  it("filters by status (default ALL) and refuses a sort, status, limit or expired_days_since outside the contract", async () => {
    rig = await new ScmRig().start();
    const client = await rig.client();
    const revoked = rig.certificates.filter((c) => c.status === "REVOKED").map((c) => c.id);
    expect(revoked.length).toBeGreaterThan(0);
    expect((await walk(client, { ...BY_EXPIRY, status: "REVOKED" })).sort()).toEqual(revoked.sort());
    expect(await walk(client, { ...BY_EXPIRY, status: "ALL" })).toEqual(await walk(client, BY_EXPIRY));

    const refused: Record<string, string | number>[] = [
      { sort_key: "name" },
      { sort_dir: "UP" },
      { status: "VALID" },
      { limit: 30 },
      { expired_days_since: 2000 },
    ];
    for (const query of refused) {
      const asked = deliberately(() => client.get("ListCertificates", LIST, query));
      await expect(asked, JSON.stringify(query)).rejects.toThrow(
        /^ListCertificates failed: HTTP 400 SCM\.0002 /,
      );
    }
  });

  it("leaves out expired certificates unless expired_days_since asks for them (default 0)", async () => {
    rig = await new ScmRig().start();
    const client = await rig.client();
    const expired = rig.certificates
      .filter((c) => c.expire_time && instantOf(c.expire_time) < NOW.getTime())
      .map((c) => c.id);
    expect(expired.length).toBeGreaterThan(0);
    const byDefault = await walk(client, { sort_key: "certExpiredTime", sort_dir: "ASC" });
    expect(byDefault).toHaveLength(rig.certificates.length - expired.length);
    expect(byDefault.filter((id) => expired.includes(id))).toEqual([]);
    expect(await walk(client, BY_EXPIRY)).toHaveLength(rig.certificates.length);
  });
});

describe("the SCM collector", () => {
  it("asks for certwatch's order and every certificate expired within three years, 50 a page", async () => {
    rig = await new ScmRig().start();
    const observations = await collect(await rig.source(), contextOf(rig.http));
    expect(observations).toHaveLength(rig.certificates.length);
    const queries = rig.exchanges
      .map((exchange) => Object.fromEntries(exchange.request.url.searchParams))
      .sort((a, b) => Number(a.offset) - Number(b.offset));
    expect(queries).toEqual(
      [0, 50, 100].map((offset) => ({
        sort_key: "certExpiredTime",
        sort_dir: "ASC",
        expired_days_since: "1095",
        limit: "50",
        offset: String(offset),
      })),
    );
  });

  it("is not disturbed by a change that leaves a certificate's expiry alone while it pages", async () => {
    rig = await new ScmRig().start();
    const byExpiry = await walk(await rig.client(), BY_EXPIRY);
    const stop = observeExchanges((exchange) => {
      // Between the first page and the others.
      if (exchange.request.url.searchParams.get("offset") === "0") {
        rig.sim.change(byExpiry[75] as string, { description: "edited" });
      }
    });
    try {
      const observations = await collect(await rig.source(), contextOf(rig.http));
      expect(observations.map((observation) => observation.nativeId)).toEqual(byExpiry);
    } finally {
      stop();
    }
  });

  it("tells the sweep the listing is unsettled, and does not fail, when a certificate it already listed is renewed while it pages", async () => {
    rig = await new ScmRig().start();
    const byExpiry = await walk(await rig.client(), BY_EXPIRY);
    const renewed = byExpiry[10] as string;
    const stop = observeExchanges((exchange) => {
      if (exchange.request.url.searchParams.get("offset") === "0") {
        rig.sim.change(renewed, { expire_time: later(800) });
      }
    });
    const reasons: string[] = [];
    try {
      const observations = await collect(await rig.source(), {
        ...contextOf(rig.http),
        unsettled: (reason) => reasons.push(reason),
      });
      // It moved to the end: served again on the last page, while the one that took its place was stepped over.
      expect(observations.map((observation) => observation.nativeId)).toEqual([
        ...byExpiry.slice(0, 50),
        ...byExpiry.slice(51),
        renewed,
      ]);
      expect(reasons).toEqual([
        `ListCertificates: page 3 serves entry ${renewed} again, after an earlier page did; the listing changed while it was paged`,
      ]);
    } finally {
      stop();
    }
  });
});

describe("SCM scope headers", () => {
  const scopeOf = (exchange: Exchange | undefined) => {
    const headers = exchange?.request.headers ?? {};
    const signed = /SignedHeaders=([^,]+)/.exec(String(headers.authorization))?.[1]?.split(";") ?? [];
    return {
      domain: headers["x-domain-id"],
      project: headers["x-project-id"],
      signed: signed.filter((name) => name === "x-domain-id" || name === "x-project-id"),
    };
  };

  it("sends X-Domain-Id when domainId is set, X-Project-Id when projectId is, both when both are, signed", async () => {
    rig = await new ScmRig(undefined, { domainId: "d-0123" }).start();
    const cases: [string[], ReturnType<typeof scopeOf>][] = [
      [[], { domain: undefined, project: undefined, signed: [] }],
      [["domainId: d-0123"], { domain: "d-0123", project: undefined, signed: ["x-domain-id"] }],
      [["projectId: p-0456"], { domain: undefined, project: "p-0456", signed: ["x-project-id"] }],
      [
        ["domainId: d-0123", "projectId: p-0456"],
        { domain: "d-0123", project: "p-0456", signed: ["x-domain-id", "x-project-id"] },
      ],
    ];
    for (const [extra, expected] of cases) {
      const verdict = await huaweiScm.verify(await rig.source(extra), contextOf(rig.http));
      expect(verdict).toBe(`credentials accepted; ${rig.certificates.length} certificates visible`);
      expect(scopeOf(rig.exchanges.at(-1)), extra.join(", ")).toEqual(expected);
    }
  });

  it("is refused by the gateway when X-Domain-Id names another account, with the request id", async () => {
    rig = await new ScmRig(undefined, { domainId: "d-0123" }).start();
    const verifying = huaweiScm.verify(await rig.source(["domainId: d-9999"]), contextOf(rig.http));
    await expect(verifying).rejects.toThrow(
      /^ListCertificates failed: HTTP 401 APIGW\.0301 \(Incorrect IAM authentication information: X-Domain-Id is not the account of these credentials\) \[request id [0-9a-f]{32}\]$/,
    );
  });
});

describe("ShowCertificate", () => {
  it("reads each certificate into the observation the listing makes of it", async () => {
    rig = await new ScmRig().start();
    const source = await rig.source();
    const context = contextOf(rig.http);
    const listed = await collect(source, context);
    expect(new Set(rig.certificates.map((c) => c.status))).toEqual(
      new Set(["ISSUED", "UPLOAD", "EXPIRED", "REVOKED", "CHECKING"]),
    );
    for (const observation of listed) {
      expect(await lookUpScmCertificate(source, context, observation.nativeId)).toEqual(observation);
    }
  });

  it.each(["iso", "epoch-ms"] as const)("reads not_after written as %s", async (form) => {
    rig = await new ScmRig(undefined, { notAfterForm: form }).start();
    const source = await rig.source();
    const context = contextOf(rig.http);
    const issued = rig.certificates.find((c) => c.status === "ISSUED") as ScmCertificate;
    const found = await lookUpScmCertificate(source, context, issued.id);
    expect(found).toMatchObject({ notAfter: new Date(instantOf(issued.expire_time)).toISOString() });
    const served = rig.exchanges.at(-1)?.answer.body as { not_after: string };
    expect(served.not_after).toMatch(form === "iso" ? /^\d{4}-\d{2}-\d{2}T.*Z$/ : /^\d{13}$/);
  });

  it("says gone for a certificate SCM does not know", async () => {
    rig = await new ScmRig().start();
    expect(await lookUpScmCertificate(await rig.source(), contextOf(rig.http), "scs1999999999999")).toBe(
      "gone",
    );
    expect(rig.exchanges.at(-1)?.answer.status).toBe(404);
  });

  it("throws on any other failure: a 500, with its request id", async () => {
    rig = await new ScmRig().start();
    const [certificate] = rig.certificates as [ScmCertificate];
    rig.sim.inject("5xx", 4);
    const error = await lookUpScmCertificate(await rig.source(), contextOf(rig.http), certificate.id).catch(
      (e: unknown) => e as Error,
    );
    const requestId = rig.exchanges.at(-1)?.answer.headers?.["X-Request-Id"];
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      `ShowCertificate failed: HTTP 500 SCM.0001 (Internal server error) [request id ${requestId}] after 4 attempts`,
    );
  });

  it("throws on a 404 from the gateway (no such API at that endpoint): it says nothing about the certificate", async () => {
    rig = await new ScmRig().start();
    const elsewhere = identityCenterSimulator({
      fleet: identityCenterFleet({ applications: 1, certificatesPerApplication: 1, now: NOW }),
      credentials: KEYS,
    });
    const url = await elsewhere.listen();
    try {
      const source = await rig.source([], url);
      // The Identity Center simulator is asked an SCM path on purpose.
      const looking = deliberately(() =>
        lookUpScmCertificate(source, contextOf(rig.http), "scs1700000000000"),
      );
      await expect(looking).rejects.toThrow(/^ShowCertificate failed: HTTP 404 APIGW\.0101 /);
    } finally {
      await elsewhere.close();
    }
  });

  it.each([
    ["a proxy's HTML page", "<html><body><h1>404 Not Found</h1>nginx</body></html>"],
    ["an empty body", ""],
    ["another service's JSON", '{"code":"404","message":"Not Found"}'],
  ])(
    "throws on a 404 that is not SCM's own (%s): only SCM can say a certificate is gone",
    async (_what, body) => {
      rig = await new ScmRig().start();
      const proxy = new SimServer(
        () => ({ status: 404, body: body === "" ? "" : body.startsWith("{") ? JSON.parse(body) : body }),
        () => ({ status: 500, body: {} }),
      );
      const url = await proxy.listen();
      try {
        const source = await rig.source([], url);
        await expect(lookUpScmCertificate(source, contextOf(rig.http), "scs1700000000000")).rejects.toThrow(
          /^ShowCertificate failed: HTTP 404/,
        );
      } finally {
        await proxy.close();
      }
    },
  );
});

/** Resolves every host name to 127.0.0.1, so that the simulator answers under the vendor's host name. */
function pinToLoopback(
  _host: string,
  options: { all?: boolean },
  callback: (error: null, address: string | { address: string; family: number }[], family?: number) => void,
): void {
  if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
  else callback(null, "127.0.0.1", 4);
}

describe("SCM labels", () => {
  it("carry the configured region, and none is read from the endpoint's host name", async () => {
    rig = await new ScmRig(scmFleet({ count: 3, now: NOW })).start();
    const pinned = new HttpClient(new Agent({ connect: { lookup: pinToLoopback } as never }));
    try {
      const endpoint = `http://scm.ap-southeast-1.myhuaweicloud.com:${new URL(rig.url).port}`;
      const source = { ...(await rig.source()), endpoint };
      const observations = await collect(source, contextOf(pinned));
      expect(rig.exchanges.at(-1)?.request.headers.host).toBe(new URL(endpoint).host);
      expect(observations.map((observation) => observation.labels.region)).toEqual([
        undefined,
        undefined,
        undefined,
      ]);

      const labelled = await collect({ ...source, region: "cn-north-4" }, contextOf(pinned));
      expect(labelled.map((observation) => observation.labels.region)).toEqual([
        "cn-north-4",
        "cn-north-4",
        "cn-north-4",
      ]);
      const [first] = labelled;
      if (!first) throw new Error("nothing listed");
      expect(await lookUpScmCertificate(source, contextOf(pinned), first.nativeId)).toMatchObject({
        labels: { region: undefined },
      });
    } finally {
      await pinned.close();
    }
  });
});
