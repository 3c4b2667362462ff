import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { Config } from "../lib/config/schema.js";
import { huaweiIdentityCenter } from "../lib/sources/huawei/identity-center.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { type RunSummary, runSweep } from "../lib/sweep.js";
import type { SweepOptions } from "../lib/sweep-source.js";
import {
  applicationKind,
  type IdentityCenterFleet,
  type IdentityCenterSim,
  identityCenterFleet,
  identityCenterSimulator,
} from "../sim/huawei-identity-center.js";
import { type Exchange, observeExchanges, SimServer } from "../sim/server.js";
import { makeCertificate, makeKey } from "../sim/tls-site.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { SmtpSink } from "../sim/smtp.js";
import { deliberately } from "./contract/setup.js";
import { KEYS } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface RigOptions {
  /** Entries per page the simulator serves, to make both listings page. */
  pageSize?: number;
  applicationInstanceIds?: string[];
  /** The account: the simulator checks X-Domain-Id against it and the source sends it. */
  domainId?: string;
}

/** The Identity Center simulator, dynalite, a Slack receiver and an SMTP sink, all on loopback. */
class IdentityCenterRig {
  sim: IdentityCenterSim;
  simUrl!: string;
  slack = new SlackReceiverSim();
  smtp = new SmtpSink();
  dynamo!: EmbeddedDynamo;
  store!: Store;
  http = new HttpClient();
  config!: Config;

  constructor(
    readonly fleet: IdentityCenterFleet,
    private readonly options: RigOptions = {},
  ) {
    this.sim = identityCenterSimulator({
      fleet,
      credentials: KEYS,
      pageSize: options.pageSize,
      domainId: options.domainId,
    });
  }

  async start(): Promise<this> {
    let slackUrl: string;
    let smtpPort: number;
    [this.simUrl, slackUrl, smtpPort, this.dynamo] = await Promise.all([
      this.sim.listen(),
      this.slack.listen(),
      this.smtp.listen(),
      startEmbeddedDynamo(),
    ]);
    this.store = new Store({ table: "certwatch", endpoint: this.dynamo.endpoint, historyDays: 90 });
    await this.store.ensureTable();
    const ids = this.options.applicationInstanceIds;
    // qps is raised so that pacing does not dominate the test's run time; pacing is tested in http.test.ts.
    const yaml = `
sources:
  - name: hw-sso
    type: huawei-identity-center
    endpoint: ${this.simUrl}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    instanceId: ${this.fleet.instanceId}
    qps: 100
    timeout: 2s
${ids ? `    applicationInstanceIds: ${JSON.stringify(ids)}` : ""}
${this.options.domainId ? `    domainId: ${this.options.domainId}` : ""}
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }
  - name: ops-mail
    type: email
    from: certwatch@test.local
    to: [oncall@test.local]
    smtp: { host: 127.0.0.1, port: ${smtpPort} }
`;
    this.config = await parseConfig(yaml, "test.yml");
    return this;
  }

  sweep(now: Date, options: Partial<SweepOptions> = {}): Promise<RunSummary> {
    return runSweep({ config: this.config, store: this.store, http: this.http, now, ...options });
  }

  /** The request paths the simulator answered, as sent (percent-encoded). */
  paths(): string[] {
    return this.sim.requests.map((url) => url.pathname);
  }

  async stop(): Promise<void> {
    this.store.close();
    await this.http.close();
    await Promise.all([this.sim.close(), this.slack.close(), this.smtp.close(), this.dynamo.close()]);
  }
}

/** The ACTIVE certificates the expiry rule must name at `now` (within 30 days, or expired): the test's own reading. */
function expectedAlerting(fleet: IdentityCenterFleet, now: Date): string[] {
  return fleet.applications
    .flatMap((application) => application.certificates)
    .filter((certificate) => certificate.status === "ACTIVE")
    .filter((certificate) => certificate.expiry_date - now.getTime() <= 30 * DAY)
    .map((certificate) => certificate.certificate_id)
    .sort();
}

/** `<app>/<certificate>` of each alerting active certificate's successor: the latest INACTIVE one expiring later. */
function expectedSuccessors(fleet: IdentityCenterFleet, now: Date): string[] {
  const alerting = new Set(expectedAlerting(fleet, now));
  return fleet.applications.flatMap((application) => {
    const active = application.certificates.find((c) => c.status === "ACTIVE");
    if (!active || !alerting.has(active.certificate_id)) return [];
    const later = application.certificates
      .filter((c) => c.status === "INACTIVE" && c.expiry_date > active.expiry_date)
      .sort((a, b) => b.expiry_date - a.expiry_date);
    return later[0] ? [`${application.application_instance_id}/${later[0].certificate_id}`] : [];
  });
}

/** Certificate ids named as alert titles (`<app> certificate cer-...`), not in action lines. */
function titlesIn(text: string): string[] {
  return [
    ...new Set([...text.matchAll(/certificate (cer-[0-9a-f-]{36})/g)].map((match) => match[1] ?? "")),
  ].sort();
}

function slackText(rig: IdentityCenterRig): string {
  return rig.slack.posts
    .map((post) =>
      [post.body.text, ...(post.body.blocks ?? []).map((block) => block.text?.text ?? "")].join("\n"),
    )
    .join("\n");
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe("Huawei Identity Center end to end: simulator → sweep → dynalite → Slack and email", () => {
  const fleet = identityCenterFleet({ applications: 20, certificatesPerApplication: 3, now: NOW, seed: 11 });
  const rig = new IdentityCenterRig(fleet, { pageSize: 2 });
  const expected = expectedAlerting(fleet, NOW);
  const successors = expectedSuccessors(fleet, NOW);
  const inactiveIds = fleet.applications
    .flatMap((application) => application.certificates)
    .filter((certificate) => certificate.status === "INACTIVE")
    .map((certificate) => certificate.certificate_id);

  beforeAll(async () => {
    await rig.start();
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("the fleet has every case, so the test means something", () => {
    const kinds = fleet.applications.map((_, index) => applicationKind(index));
    expect(new Set(kinds)).toEqual(new Set(["rotation", "expiring", "healthy", "expired"]));
    expect(successors).toHaveLength(kinds.filter((kind) => kind === "rotation").length);
    expect(expected.length).toBeGreaterThan(successors.length);
    expect(expected.length).toBeLessThan(fleet.applications.length);
    // Some inactive certificates are expired or expiring: they must still not alert.
    const soon = fleet.applications
      .flatMap((a) => a.certificates)
      .filter((c) => c.status === "INACTIVE" && c.expiry_date - NOW.getTime() <= 30 * DAY);
    expect(soon.length).toBeGreaterThan(0);
  });

  it("first sweep: discovers application instances over several pages and names exactly the alerting active certificates", async () => {
    const summary = await rig.sweep(NOW);
    expect(summary.exitCode).toBe(0);
    // 20 application instances, 2 a page: 10 discovery calls; 3 certificates each, 2 a page: 2 calls each.
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 60, added: 60, calls: 50, throttled: 0 });
    const discovery = rig.sim.requests.filter((url) => url.pathname.endsWith("/application-instances"));
    expect(discovery).toHaveLength(10);
    expect(discovery.filter((url) => url.searchParams.has("marker"))).toHaveLength(9);

    expect(rig.slack.posts).toHaveLength(1);
    const slack = slackText(rig);
    expect(titlesIn(slack)).toEqual(expected);
    expect(rig.smtp.messages).toHaveLength(1);
    const [mail] = rig.smtp.messages;
    expect(titlesIn(mail?.html ?? "")).toEqual(expected);
    expect(titlesIn(mail?.text ?? "")).toEqual(expected);
    const named = new Set([...titlesIn(slack), ...titlesIn(mail?.text ?? "")]);
    expect(inactiveIds.filter((id) => named.has(id))).toEqual([]);
    expect(summary.deliveries.map((d) => [d.receiver, d.sent, d.failed])).toEqual([
      ["ops-slack", expected.length, 0],
      ["ops-mail", expected.length, 0],
    ]);
  });

  it("an active certificate with a later inactive one says to activate it, naming the successor", () => {
    const slack = slackText(rig);
    const mail = rig.smtp.messages[0];
    for (const successor of successors) {
      const line = `activate the new one: inactive certificate ${successor} is valid until`;
      expect(slack).toContain(line);
      expect(mail?.text).toContain(line);
      expect(mail?.html).toContain(line);
    }
    // The expiring-only and expired applications have no successor, so no other alert says so.
    const blocks = (rig.slack.posts[0]?.body.blocks ?? []).map((block) => block.text?.text ?? "").join("\n");
    expect(count(blocks, "activate the new one")).toBe(successors.length);
  });

  it("stores no PEM text", async () => {
    const stored = await rig.store.loadObjects("hw-sso");
    expect(stored.size).toBe(60);
    expect(JSON.stringify([...stored.values()])).not.toContain("BEGIN CERTIFICATE");
  });

  it("a second sweep an hour later sends nothing", async () => {
    const summary = await rig.sweep(new Date(NOW.getTime() + HOUR));
    expect(summary.exitCode).toBe(0);
    expect(summary.alerts).toEqual([]);
    expect(summary.sources[0]).toMatchObject({ added: 0, changed: 0, gone: 0 });
    expect(rig.slack.posts).toHaveLength(1);
    expect(rig.smtp.messages).toHaveLength(1);
  });
});

describe("configured application instances", () => {
  const fleet = identityCenterFleet({ applications: 10, certificatesPerApplication: 3, now: NOW, seed: 5 });
  const configured = ["app-ins-0002", "app-ins-0005"];
  const rig = new IdentityCenterRig(fleet, { applicationInstanceIds: configured });

  beforeAll(async () => {
    await rig.start();
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("calls only those application instances' certificates, and no discovery", async () => {
    const summary = await rig.sweep(NOW, { receivers: [] });
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 6, calls: 2 });
    expect(rig.paths().sort()).toEqual(
      configured.map((id) => `/v1/instances/${fleet.instanceId}/application-instances/${id}/certificates`),
    );
  });

  it("a malformed certificates page fails the sweep naming the application instance and the field", async () => {
    rig.sim.inject("malformed");
    const summary = await rig.sweep(new Date(NOW.getTime() + HOUR), { receivers: [] });
    expect(summary.exitCode).toBe(1);
    expect(summary.sources[0]?.error).toMatch(
      /^ListApplicationInstanceCertificates returned a malformed page: app-ins-000[25]: application_instance_certificates is missing or not a list$/,
    );
  });

  it("an undocumented status is kept raw, watched as unknown, and warned about naming the field", async () => {
    const active = fleet.applications[1]?.certificates[0];
    if (!active) throw new Error("fleet too small");
    active.status = "ROTATING";
    // An undocumented status is outside the contract on purpose; the later tests get the documented one back.
    const summary = await deliberately(() =>
      rig.sweep(new Date(NOW.getTime() + 2 * HOUR), { receivers: [] }),
    ).finally(() => {
      active.status = "ACTIVE";
    });
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]?.warnings).toEqual([
      `ListApplicationInstanceCertificates: app-ins-0002: application_instance_certificates[0].status of certificate ${active.certificate_id} is "ROTATING", not ACTIVE or INACTIVE`,
    ]);
    const stored = (await rig.store.loadObjects("hw-sso")).get(
      `hw-sso/certificate/app-ins-0002/${active.certificate_id}`,
    );
    expect(stored?.observation).toMatchObject({ status: "unknown", rawStatus: "ROTATING" });
    expect(stored?.observation.successor).toBeUndefined();
  });

  it("URL-encodes path segments", async () => {
    const odd = fleet.applications[4];
    if (!odd) throw new Error("fleet too small");
    odd.application_instance_id = "app-ins-a/b c";
    const source = { ...rig.config.sources[0], applicationInstanceIds: [odd.application_instance_id] };
    const before = rig.sim.requests.length;
    const summary = await rig.sweep(NOW, {
      config: { ...rig.config, sources: [source] as Config["sources"] },
      dryRun: true,
    });
    // The other instances' certificates are only missing after one listing without them.
    const report = summary.sources[0];
    expect(report).toMatchObject({ ok: true });
    expect((report?.objects ?? 0) - (report?.missing ?? 0)).toBe(3);
    expect(rig.sim.requests[before]?.pathname).toBe(
      `/v1/instances/${fleet.instanceId}/application-instances/app-ins-a%2Fb%20c/certificates`,
    );
  });

  it("verify makes one call and says the instance is reachable; an unknown instance is a 404", async () => {
    const source = rig.config.sources[0] as Extract<
      Config["sources"][number],
      { type: "huawei-identity-center" }
    >;
    const context = { http: rig.http, stats: newCallStats(), previous: new Map(), warn: () => undefined };
    expect(await huaweiIdentityCenter.verify(source, context)).toBe(
      `credentials accepted; instance ${fleet.instanceId} reachable`,
    );
    expect(context.stats.calls).toBe(1);
    await expect(
      huaweiIdentityCenter.verify(
        { ...source, applicationInstanceIds: undefined, instanceId: "ins-nope" },
        context,
      ),
    ).rejects.toThrow(
      /^ListApplicationInstances failed: HTTP 404 IIC\.404 \(instance ins-nope does not exist\) \[request id [0-9a-f]{32}\]$/,
    );
  });
});

describe("a misbehaving Identity Center", () => {
  const fleet = identityCenterFleet({ applications: 6, certificatesPerApplication: 3, now: NOW, seed: 3 });
  const rig = new IdentityCenterRig(fleet, { pageSize: 2 });

  beforeAll(async () => {
    await rig.start();
    await rig.sweep(NOW);
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("a repeated next_marker ends the sweep (exit 1) naming the call, application instance and marker; nothing stored changes", async () => {
    const before = await rig.store.loadObjects("hw-sso");
    const posts = rig.slack.posts.length;
    const requestsBefore = rig.sim.requests.length;
    rig.sim.markerLoop = "same-marker";
    const summary = await rig.sweep(new Date(NOW.getTime() + HOUR));
    rig.sim.markerLoop = undefined;

    expect(summary.exitCode).toBe(1);
    const error = summary.sources[0]?.error ?? "";
    const match =
      /^ListApplicationInstanceCertificates returned a malformed page: (app-ins-\d{4}) page 2: page_info\.next_marker repeats "([\w-]{24})", a marker this listing already returned; stopped instead of looping$/.exec(
        error,
      );
    expect(match, error).not.toBeNull();
    const [, application, marker] = match as RegExpExecArray;
    const asked = rig.sim.requests
      .slice(requestsBefore)
      .filter((url) => url.pathname.includes(`/${application}/`))
      .map((url) => url.searchParams.get("marker"));
    expect(asked).toEqual([null, marker]);
    expect(await rig.store.loadObjects("hw-sso")).toEqual(before);
    expect(summary.sources[0]).toMatchObject({ gone: 0, consecutiveFailures: 1 });
    expect(rig.slack.posts).toHaveLength(posts);
  });

  it("a page served again under a new marker ends the sweep the same way", async () => {
    const before = await rig.store.loadObjects("hw-sso");
    rig.sim.markerLoop = "same-page";
    const summary = await rig.sweep(new Date(NOW.getTime() + 2 * HOUR));
    rig.sim.markerLoop = undefined;
    expect(summary.exitCode).toBe(1);
    expect(summary.sources[0]?.error).toMatch(
      /^ListApplicationInstanceCertificates returned a malformed page: app-ins-\d{4} page 2: application_instance_certificates repeats entries of an earlier page$/,
    );
    expect(await rig.store.loadObjects("hw-sso")).toEqual(before);
  });

  it("a malformed discovery page fails the sweep naming the field", async () => {
    // Always, not once, so that the fault cannot be spent on a call left over from the failed sweep above.
    rig.sim.injectAlways("malformed");
    const summary = await rig.sweep(new Date(NOW.getTime() + 3 * HOUR));
    rig.sim.injectAlways(undefined);
    expect(summary.exitCode).toBe(1);
    expect(summary.sources[0]?.error).toBe(
      `ListApplicationInstances returned a malformed page: instance ${fleet.instanceId}: application_instances is missing or not a list`,
    );
  });

  it("a certificate without expiry_date fails the sweep naming the field path", async () => {
    const certificate = fleet.applications[2]?.certificates[1] as unknown as Record<string, unknown>;
    const expiry = certificate.expiry_date;
    delete certificate.expiry_date;
    const summary = await rig.sweep(new Date(NOW.getTime() + 4 * HOUR));
    certificate.expiry_date = expiry;
    expect(summary.exitCode).toBe(1);
    expect(summary.sources[0]?.error).toBe(
      "ListApplicationInstanceCertificates returned a malformed page: app-ins-0003: application_instance_certificates[1].expiry_date is missing",
    );
  });

  it("recovers on the next good sweep: only the source-health alert resolves, nothing else is resent", async () => {
    const posts = rig.slack.posts.length;
    const summary = await rig.sweep(new Date(NOW.getTime() + 5 * HOUR));
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, consecutiveFailures: 0, added: 0, gone: 0 });
    expect(summary.alerts.map((a) => [a.fingerprint.split(":")[0], a.transition])).toEqual([
      ["source-health", "resolved"],
    ]);
    expect(rig.slack.posts).toHaveLength(posts + 1);
  });

  it("a page with more entries than the limit asked for fails the sweep", async () => {
    const certificate = fleet.applications[0]?.certificates[0];
    const oversized = new SimServer(
      () => ({
        status: 200,
        body: {
          application_instance_certificates: Array.from({ length: 101 }, (_, i) => ({
            ...certificate,
            certificate_id: `cer-${i}`,
          })),
          page_info: { next_marker: null, current_count: 101 },
        },
      }),
      () => ({ status: 500, body: {} }),
    );
    const url = await oversized.listen();
    try {
      // A source of its own: a stored inventory belongs to the endpoint it was swept at.
      const source = {
        ...rig.config.sources[0],
        name: "hw-sso-oversized",
        endpoint: url,
        applicationInstanceIds: ["app-ins-0001"],
      };
      const summary = await rig.sweep(NOW, {
        config: { ...rig.config, sources: [source] as Config["sources"] },
        dryRun: true,
      });
      expect(summary.sources[0]?.error).toBe(
        "ListApplicationInstanceCertificates returned a malformed page: app-ins-0001: application_instance_certificates has 101 entries, more than the limit of 100",
      );
    } finally {
      await oversized.close();
    }
  });

  it("a listing that keeps promising more stops once it has fetched maxPages pages, naming the bound", async () => {
    const source = { ...rig.config.sources[0], name: "hw-sso-capped", maxPages: 2 };
    const summary = await rig.sweep(NOW, {
      config: { ...rig.config, sources: [source] as Config["sources"] },
      dryRun: true,
    });
    expect(summary.sources[0]?.error).toBe(
      `ListApplicationInstances: instance ${fleet.instanceId}: 2 pages fetched and next_marker still says there are more, the source's maxPages (raise it if the estate is really that big)`,
    );
  });

  it("a certificate served again beside new ones is a listing that moved: unsettled, once, and no failure", async () => {
    const certificate = fleet.applications[0]?.certificates[0];
    const entry = (id: string) => ({ ...certificate, certificate_id: id });
    const moving = new SimServer(
      (request) => {
        const second = request.url.searchParams.get("marker") === "m-2";
        return {
          status: 200,
          body: {
            application_instance_certificates: second
              ? [entry("cer-b"), entry("cer-c")]
              : [entry("cer-a"), entry("cer-b")],
            page_info: { next_marker: second ? null : "m-2", current_count: 2 },
          },
        };
      },
      () => ({ status: 500, body: {} }),
    );
    const url = await moving.listen();
    const reasons: string[] = [];
    try {
      const source = { ...rig.config.sources[0], endpoint: url, applicationInstanceIds: ["app-ins-0001"] };
      const collected: string[] = [];
      for await (const observation of huaweiIdentityCenter.collect(
        source as Parameters<typeof huaweiIdentityCenter.collect>[0],
        {
          http: rig.http,
          stats: newCallStats(),
          previous: new Map(),
          warn: () => undefined,
          unsettled: (reason) => reasons.push(reason),
        },
      )) {
        collected.push(observation.nativeId);
      }
      expect(collected).toEqual(["cer-a", "cer-b", "cer-b", "cer-c"].map((id) => `app-ins-0001/${id}`));
      expect(reasons).toEqual([
        "ListApplicationInstanceCertificates: app-ins-0001 page 2: application_instance_certificates serves entry cer-b again, after an earlier page did; the listing changed while it was paged",
      ]);
    } finally {
      await moving.close();
    }
  });

  it("lists several application instances at once, within the credential's concurrency", async () => {
    rig.sim.latencyMs = 100;
    rig.sim.stats.maxInFlight = 0;
    const summary = await rig.sweep(new Date(NOW.getTime() + 6 * HOUR), { dryRun: true });
    rig.sim.latencyMs = 0;
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 18 });
    expect(rig.sim.stats.maxInFlight).toBeGreaterThan(1);
    expect(rig.sim.stats.maxInFlight).toBeLessThanOrEqual(4);
  });
});

describe("Identity Center scope and refusals", () => {
  const fleet = identityCenterFleet({ applications: 4, certificatesPerApplication: 2, now: NOW, seed: 9 });
  const rig = new IdentityCenterRig(fleet, { pageSize: 2, domainId: "d-0123456789" });
  const exchanges: Exchange[] = [];
  let stopObserving: () => void;

  beforeAll(async () => {
    await rig.start();
    stopObserving = observeExchanges((exchange) => {
      if (exchange.service === "huawei.identitycenter") exchanges.push(exchange);
    });
  });
  afterAll(async () => {
    stopObserving();
    await rig.stop();
  });

  it("sends X-Domain-Id, signed, on every call and never X-Project-Id (global credentials only)", async () => {
    const summary = await rig.sweep(NOW, { receivers: [] });
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 8 });
    expect(exchanges.length).toBe(summary.sources[0]?.calls);
    for (const { request } of exchanges) {
      expect(request.headers["x-domain-id"]).toBe("d-0123456789");
      expect(String(request.headers.authorization)).toMatch(/SignedHeaders=[^,]*x-domain-id/);
      expect(request.headers).not.toHaveProperty("x-project-id");
    }
  });

  it("a refusal names the request id and says the encoded authorization message explains it", async () => {
    const source = rig.config.sources[0] as Extract<
      Config["sources"][number],
      { type: "huawei-identity-center" }
    >;
    const context = { http: rig.http, stats: newCallStats(), previous: new Map(), warn: () => undefined };
    rig.sim.denyAccess = true;
    const error = await huaweiIdentityCenter.verify(source, context).catch((e: unknown) => e as Error);
    rig.sim.denyAccess = false;
    const refusal = exchanges.at(-1)?.answer;
    const body = refusal?.body as { request_id: string; encoded_authorization_message: string };
    expect(refusal?.headers?.["X-Request-Id"]).toBe(body.request_id);
    expect((error as Error).message).toMatch(
      /^ListApplicationInstances failed: HTTP 403 IIC\.1000 \(No permission for the action; the gateway explains the denial in an encoded_authorization_message \(\d+ characters\)\)/,
    );
    expect((error as Error).message).toMatch(new RegExp(`\\[request id ${body.request_id}\\]$`));
  });
});

describe("Identity Center content checks on the certificate PEM", () => {
  const pemOf = (options: { rsaBits?: number; hash?: "sha1" | "sha256"; days: number }) =>
    makeCertificate({
      commonName: "SAML signing",
      notBefore: new Date(NOW.getTime() - DAY),
      notAfter: new Date(NOW.getTime() + options.days * DAY),
      key: makeKey(options.rsaBits ? { rsa: options.rsaBits } : "ec"),
      hash: options.hash,
    }).pem;
  const samlCertificate = (id: string, status: string, days: number, certificate: string) => ({
    certificate_id: id,
    algorithm: "SHA256withRSA",
    key_size: "2048",
    issue_date: NOW.getTime() - DAY,
    expiry_date: NOW.getTime() + days * DAY,
    status,
    certificate,
  });
  // Far from expiry, so that only the content checks speak.
  const weak = samlCertificate("cer-weak", "ACTIVE", 200, pemOf({ rsaBits: 1024, hash: "sha1", days: 200 }));
  const renewed = samlCertificate("cer-renewed", "INACTIVE", 565, pemOf({ days: 565 }));
  const unreadable = samlCertificate(
    "cer-unreadable",
    "ACTIVE",
    300,
    "-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----",
  );
  const fleet: IdentityCenterFleet = {
    instanceId: "ins-0123456789abcdef",
    applications: [
      {
        application_instance_id: "app-ins-0001",
        name: "jira-saml",
        status: "ENABLED",
        certificates: [weak, renewed],
      },
      {
        application_instance_id: "app-ins-0002",
        name: "wiki-saml",
        status: "ENABLED",
        certificates: [unreadable],
      },
    ],
  };
  const rig = new IdentityCenterRig(fleet);
  const weakKey = "hw-sso/certificate/app-ins-0001/cer-weak";

  beforeAll(async () => {
    await rig.start();
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("each check is off by config: nothing is said about the weak certificate", async () => {
    const { contentChecks } = rig.config.alerts;
    rig.config.alerts.contentChecks = { weakRsaKey: false, sha1Signature: false, sanMismatch: false };
    const summary = await rig.sweep(NOW, { dryRun: true, receivers: [] }).finally(() => {
      rig.config.alerts.contentChecks = contentChecks;
    });
    expect(summary.exitCode).toBe(0);
    expect(summary.alerts).toEqual([]);
  });

  it("warns once on an RSA 1024 key and a SHA-1 signature, keeping facts and not the PEM; an unreadable PEM is a warning", async () => {
    const summary = await rig.sweep(NOW);
    expect(summary.exitCode).toBe(0);
    expect(summary.alerts.map((a) => [a.fingerprint, a.severity, a.transition])).toEqual(
      expect.arrayContaining([
        [`weak-key:${weakKey}`, "warning", "new"],
        [`sha1-signature:${weakKey}`, "warning", "new"],
      ]),
    );
    expect(summary.alerts).toHaveLength(2);
    expect(summary.alerts.find((a) => a.fingerprint.startsWith("weak-key:"))?.summary).toMatch(
      /^RSA key of 1024 bits, under 2048/,
    );
    expect(summary.sources[0]?.warnings).toEqual([
      expect.stringMatching(
        /^ListApplicationInstanceCertificates: app-ins-0002: application_instance_certificates\[0\]\.certificate of certificate cer-unreadable: not a readable X\.509 certificate: .+; its key, signature and SANs are not checked$/,
      ),
    ]);
    const stored = await rig.store.loadObjects("hw-sso");
    const observation = stored.get(weakKey)?.observation;
    expect(observation?.details).toMatchObject({
      keyType: "rsa",
      keyBits: "1024",
      signatureAlgorithm: "sha1WithRSAEncryption",
    });
    expect(observation?.details?.sha256Fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(JSON.stringify([...stored.values()])).not.toContain("BEGIN CERTIFICATE");
  });

  it("an unchanged certificate does not alert again", async () => {
    const summary = await rig.sweep(new Date(NOW.getTime() + HOUR));
    expect(summary.exitCode).toBe(0);
    expect(summary.alerts).toEqual([]);
  });

  it("activating the renewed certificate with a good key resolves both warnings, and it raises none", async () => {
    weak.status = "INACTIVE";
    renewed.status = "ACTIVE";
    const summary = await rig.sweep(new Date(NOW.getTime() + 2 * HOUR));
    expect(summary.alerts.map((a) => [a.fingerprint, a.transition]).sort()).toEqual([
      [`sha1-signature:${weakKey}`, "resolved"],
      [`weak-key:${weakKey}`, "resolved"],
    ]);
    const again = await rig.sweep(new Date(NOW.getTime() + 3 * HOUR));
    expect(again.alerts).toEqual([]);
  });
});
