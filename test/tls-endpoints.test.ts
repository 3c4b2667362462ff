import { X509Certificate } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Config, configSchema, type TlsEndpointsSourceConfig } from "../lib/config/schema.js";
import type { Alert, Observation, StoredObject } from "../lib/model/types.js";
import { facts, type Digest } from "../lib/notify/digest.js";
import { html, plainText } from "../lib/notify/email.js";
import { contentFindings } from "../lib/rules/content.js";
import { evaluateObject } from "../lib/rules/evaluate.js";
import { covers } from "../lib/rules/served.js";
import { parseConfig } from "../lib/config/load.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { collectEndpoints, probeTargets } from "../lib/sources/tls/endpoints.js";
import { DEFAULT_PROBE_CONCURRENCY, probe } from "../lib/sources/tls/probe.js";
import { servedDetails } from "../lib/sources/tls/served.js";
import type { CollectContext } from "../lib/sources/types.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { runSweep } from "../lib/sweep.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { certificateFacts, MAX_NAME_LENGTH, MAX_SAN_LENGTH } from "../lib/sources/x509.js";
import { type Issued, makeCa, makeCertificate, makeKey, makeLeaf, TlsSite } from "../sim/tls-site.js";

const DAY = 86_400_000;
/** Certificates are made relative to the real clock: the handshake's verification reads it too. */
const NOW = new Date();
const HOSTILE = "evil\r\n*bold* <b>markup</b> @channel `code` [link](http://x)\u202e";

const written = (source: Record<string, unknown>, alerts: Record<string, unknown> = {}) => ({
  sources: [{ name: "edge", type: "tls-endpoints", ...source }],
  receivers: [{ name: "ops", type: "slack", webhookUrl: "https://hooks.slack.com/services/T/B/C" }],
  alerts,
});

function configFor(source: Record<string, unknown>, alerts: Record<string, unknown> = {}): Config {
  return configSchema.parse(written(source, alerts));
}

function tlsSource(config: Config): TlsEndpointsSourceConfig {
  const [source] = config.sources;
  if (source?.type !== "tls-endpoints") throw new Error("expected a tls-endpoints source");
  return source;
}

function contextWith(previous: Iterable<Observation> = [], signal?: AbortSignal): CollectContext {
  return {
    http: new HttpClient(),
    stats: newCallStats(),
    previous: new Map([...previous].map((observation) => [observation.key, observation])),
    warn: () => undefined,
    signal,
  };
}

async function collect(config: Config, previous: Iterable<Observation> = []): Promise<Observation[]> {
  const found: Observation[] = [];
  for await (const observation of collectEndpoints(tlsSource(config), contextWith(previous))) {
    found.push(observation);
  }
  return found.sort((a, b) => a.nativeId.localeCompare(b.nativeId));
}

function only(observations: Observation[], serverName: string): Observation {
  const found = observations.find((observation) => observation.details?.serverName === serverName);
  if (!found) throw new Error(`no observation for ${serverName}`);
  return found;
}

/** Evaluates like a sweep does, carrying the alert state from one run to the next. */
class Evaluator {
  private state = new Map<string, StoredObject>();
  constructor(private readonly config: Config) {}

  run(observation: Observation, now = NOW): Alert[] {
    const before = this.state.get(observation.key) ?? {
      observation,
      firstSeenAt: now.toISOString(),
      changedAt: now.toISOString(),
      alerts: {},
      resolved: {},
    };
    const evaluation = evaluateObject(
      { ...before, observation },
      { now, config: this.config, acks: new Map() },
    );
    this.state.set(observation.key, { ...before, observation, ...evaluation.state });
    return evaluation.alerts;
  }
}

const endpoint = (site: TlsSite, serverName: string, extra: Record<string, unknown> = {}) => ({
  host: serverName,
  port: site.port,
  connectTo: "127.0.0.1",
  ...extra,
});

describe("x509 facts", () => {
  it("reads names, SANs, validity, key and signature algorithm from the DER", () => {
    const { intermediate } = makeCa(NOW);
    const leaf = makeLeaf(NOW, ["www.example.test", "API.example.test"], 20, intermediate, {
      ipAddresses: ["127.0.0.1", "2001:db8::1"],
    });
    const read = certificateFacts(leaf.pem);
    const node = new X509Certificate(leaf.der);
    expect(read).toMatchObject({
      subject: "CN=www.example.test",
      issuer: "CN=certwatch test intermediate",
      dnsNames: ["www.example.test", "api.example.test"],
      ipAddresses: ["127.0.0.1", "2001:db8::1"],
      serial: node.serialNumber.toUpperCase(),
      fingerprint: node.fingerprint256,
      notAfter: new Date(Math.floor((NOW.getTime() + 20 * DAY) / 1000) * 1000).toISOString(),
      keyType: "ec",
      curve: "prime256v1",
      signatureAlgorithm: "ecdsa-with-SHA256",
      selfIssued: false,
    });
    expect(certificateFacts(leaf.der).fingerprint).toBe(read.fingerprint);
  });

  it("names RSA sizes and SHA-1, and reads GeneralizedTime beyond 2049", () => {
    const weak = makeCertificate({
      commonName: "old.example.test",
      notBefore: new Date("1949-06-01T00:00:00Z"),
      notAfter: new Date("2051-01-02T03:04:05Z"),
      key: makeKey({ rsa: 1024 }),
      hash: "sha1",
    });
    expect(certificateFacts(weak.pem)).toMatchObject({
      keyType: "rsa",
      keyBits: 1024,
      signatureAlgorithm: "sha1WithRSAEncryption",
      notBefore: "1949-06-01T00:00:00.000Z",
      notAfter: "2051-01-02T03:04:05.000Z",
      selfIssued: true,
    });
  });

  it("bounds hostile names of 100 KB, on one line", () => {
    const huge = `${HOSTILE}${"x".repeat(100_000)}`;
    const read = certificateFacts(
      makeCertificate({ commonName: huge, dnsNames: [huge], notBefore: NOW, notAfter: NOW }).der,
    );
    expect(read.subject.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
    // Made one line before the cut: the line break is one space, the bidi override dropped.
    expect(read.subject.startsWith("CN=evil *bold*")).toBe(true);
    expect(read.subject).not.toMatch(/[\r\n\u202e]/);
    expect(read.dnsNames[0]?.length).toBeLessThanOrEqual(MAX_SAN_LENGTH);
  });

  it("says what is wrong with something that is not a certificate", () => {
    expect(() => certificateFacts("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")).toThrow(
      /not a readable X.509 certificate/,
    );
  });
});

describe("hostname coverage (RFC 6125)", () => {
  it("takes a wildcard for exactly one left-most label, and IPs only literally", () => {
    expect(covers(["*.example.test"], "www.example.test")).toBe(true);
    expect(covers(["*.example.test"], "WWW.Example.Test.")).toBe(true);
    expect(covers(["*.example.test"], "example.test")).toBe(false);
    expect(covers(["*.example.test"], "a.b.example.test")).toBe(false);
    expect(covers(["*.test"], "example.test")).toBe(false);
    expect(covers(["www.example.test"], "www.example.test")).toBe(true);
    expect(covers(["127.0.0.1"], "127.0.0.1")).toBe(true);
    expect(covers(["*.0.0.1"], "127.0.0.1")).toBe(false);
  });
});

describe("content checks", () => {
  it("finds weak RSA, SHA-1 and SANs that disagree with the listed domains, each one off by config", () => {
    const weak = certificateFacts(
      makeCertificate({
        commonName: "a.example.test",
        dnsNames: ["a.example.test", "b.example.test"],
        notBefore: NOW,
        notAfter: NOW,
        key: makeKey({ rsa: 1024 }),
        hash: "sha1",
      }).pem,
    );
    const all = { weakRsaKey: true, sha1Signature: true, sanMismatch: true };
    const found = contentFindings(weak, all, ["a.example.test", "c.example.test"]);
    expect(found.map((finding) => finding.rule)).toEqual(["weak-key", "sha1-signature", "san-mismatch"]);
    expect(found[2]?.summary).toBe(
      "SANs disagree with the listed domains (listed but not in the certificate: c.example.test; in the certificate but not listed: b.example.test)",
    );
    expect(
      contentFindings(weak, { weakRsaKey: false, sha1Signature: false, sanMismatch: false }, ["x"]),
    ).toEqual([]);
    expect(contentFindings(weak, all, ["B.example.test.", "a.example.test"]).map((f) => f.rule)).toEqual([
      "weak-key",
      "sha1-signature",
    ]);
  });
});

describe("config", () => {
  it("keeps a tls-endpoints source one sweep unit, with its hosts, and every content check on by default", () => {
    const config = configFor({
      endpoints: ["www.example.com", { host: "api.example.com", port: 8443, connectTo: "10.0.0.5" }],
      fromInventory: true,
    });
    expect(config.sources).toHaveLength(1);
    const source = tlsSource(config);
    expect(source.name).toBe("edge");
    expect(probeTargets(source, ["*.example.com", "shop.example.com", "WWW.example.com."])).toEqual([
      { host: "www.example.com", port: 443, serverName: "www.example.com" },
      { host: "api.example.com", port: 8443, serverName: "api.example.com", connectTo: "10.0.0.5" },
      { host: "shop.example.com", port: 443, serverName: "shop.example.com" },
    ]);
    expect(config.alerts.contentChecks).toEqual({ weakRsaKey: true, sha1Signature: true, sanMismatch: true });
  });

  it("refuses the same endpoint twice, a URL for a host, and nothing to probe", () => {
    const twice = configSchema.safeParse(
      written({ endpoints: ["a.example.com", { host: "a.example.com" }] }),
    );
    expect(twice.error?.issues[0]?.message).toMatch(/the same endpoint as endpoints\[0\]/);
    const url = configSchema.safeParse(written({ endpoints: ["https://a.example.com"] }));
    expect(url.error?.issues.map((issue) => issue.message).join()).toMatch(/without scheme or port/);
    const nothing = configSchema.safeParse(written({}));
    expect(nothing.error?.issues[0]?.message).toMatch(/nothing to probe/);
  });
});

describe("tls-endpoints against real TLS servers on 127.0.0.1", () => {
  const site = new TlsSite();
  let root: Issued;
  let intermediate: Issued;
  let shortIntermediate: Issued;
  const leaves: Record<string, Issued> = {};

  beforeAll(async () => {
    ({ root, intermediate } = makeCa(NOW));
    shortIntermediate = makeCa(NOW, new Date(NOW.getTime() + 10 * DAY)).intermediate;
    leaves.www = makeLeaf(NOW, ["www.example.test"], 90, intermediate);
    leaves.soon = makeLeaf(NOW, ["soon.example.test"], 20, intermediate);
    leaves.critical = makeLeaf(NOW, ["critical.example.test"], 3, intermediate);
    leaves.expired = makeLeaf(NOW, ["expired.example.test"], -2, intermediate);
    leaves.wildcard = makeLeaf(NOW, ["*.example.test"], 90, intermediate);
    leaves.late = makeLeaf(NOW, ["late.example.test"], 20, intermediate);
    leaves.chain = makeLeaf(NOW, ["chain.example.test"], 200, shortIntermediate);
    leaves.weak = makeLeaf(NOW, ["weak.example.test"], 90, undefined, {
      key: makeKey({ rsa: 1024 }),
      hash: "sha1",
    });
    site
      .serve("www.example.test", [leaves.www, intermediate, root])
      .serve("soon.example.test", [leaves.soon, intermediate])
      .serve("critical.example.test", [leaves.critical, intermediate])
      .serve("expired.example.test", [leaves.expired, intermediate])
      .serve("chain.example.test", [leaves.chain, shortIntermediate])
      .serve("weak.example.test", [leaves.weak])
      .serve("*", [leaves.www, intermediate]);
    await site.start();
  });
  afterAll(() => site.close());

  it("serves several SNI names on one port and records each leaf and its served chain", async () => {
    const config = configFor({
      endpoints: ["www.example.test", "soon.example.test", "chain.example.test"].map((name) =>
        endpoint(site, name),
      ),
    });
    const [chain, soon, www] = await collect(config);
    expect(www).toMatchObject({
      key: `edge/endpoint/www.example.test:${site.port}@127.0.0.1`,
      kind: "endpoint",
      domains: ["www.example.test"],
      status: "active",
      notAfter: certificateFacts(leaves.www!.pem).notAfter,
      labels: { source: "edge", provider: "tls" },
    });
    // The test root is in no trust store: observed anyway, with the reason a browser would refuse it.
    expect(www?.rawStatus).toBe("SELF_SIGNED_CERT_IN_CHAIN");
    const served = servedDetails(www as Observation);
    expect(served?.leaf.fingerprint).toBe(new X509Certificate(leaves.www!.der).fingerprint256);
    expect(served?.chain.map((certificate) => certificate.subject)).toEqual([
      "CN=certwatch test intermediate",
      "CN=certwatch test root",
    ]);
    expect(soon?.domains).toEqual(["soon.example.test"]);
    expect(chain?.domains).toEqual(["chain.example.test"]);
  });

  it("alerts on the served certificate's expiry on the same stages as any certificate", async () => {
    const config = configFor({
      endpoints: ["www", "soon", "critical", "expired"].map((name) => endpoint(site, `${name}.example.test`)),
    });
    const observations = await collect(config);
    const stages = Object.fromEntries(
      observations.map((observation) => [
        observation.details?.serverName,
        new Evaluator(config)
          .run(observation)
          .map((alert) => `${alert.rule}:${alert.stage}:${alert.severity}`),
      ]),
    );
    expect(stages).toEqual({
      "www.example.test": [],
      "soon.example.test": ["expiry:30d:warning"],
      "critical.example.test": ["expiry:7d:critical"],
      "expired.example.test": ["expiry:expired:critical"],
    });
  });

  it("alerts on an intermediate in the served chain that expires before the leaf", async () => {
    const config = configFor({ endpoints: [endpoint(site, "chain.example.test")] });
    const [observation] = await collect(config);
    const alerts = new Evaluator(config).run(observation as Observation);
    expect(alerts.map((alert) => [alert.rule, alert.stage, alert.severity])).toEqual([
      ["chain-expiry", "14d", "warning"],
    ]);
    expect(alerts[0]?.summary).toMatch(
      /^intermediate CN=certwatch test intermediate in the served chain expires \d{4}-\d\d-\d\d, before the certificate it signs/,
    );
  });

  it("alerts on a hostname the served certificate does not cover, and not on one its wildcard covers", async () => {
    site.serve("shop.example.test", [leaves.wildcard!, intermediate]);
    const config = configFor({
      endpoints: [endpoint(site, "other.example.test"), endpoint(site, "shop.example.test")],
    });
    const observations = await collect(config);
    const other = new Evaluator(config).run(only(observations, "other.example.test"));
    expect(other.map((alert) => [alert.rule, alert.severity, alert.summary])).toEqual([
      ["hostname", "critical", "serves a certificate that does not cover other.example.test"],
    ]);
    expect(new Evaluator(config).run(only(observations, "shop.example.test"))).toEqual([]);
    // An IP address as the host, beside a name to send as SNI, is where to connect, not a name to cover.
    const byAddress = configFor({
      endpoints: [{ host: "127.0.0.1", port: site.port, serverName: "www.example.test" }],
    });
    const [served] = await collect(byAddress);
    expect(served?.domains).toEqual(["www.example.test"]);
    expect(new Evaluator(byAddress).run(served as Observation)).toEqual([]);
  });

  it("runs the content checks on served leaves, and not when config turns them off", async () => {
    const target = { endpoints: [endpoint(site, "weak.example.test")] };
    const on = configFor(target);
    const [weak] = await collect(on);
    const rules = new Evaluator(on).run(weak as Observation).map((alert) => alert.rule);
    expect(rules).toEqual(expect.arrayContaining(["weak-key", "sha1-signature"]));
    const off = configFor(target, { contentChecks: { weakRsaKey: false, sha1Signature: false } });
    const quiet = new Evaluator(off).run(weak as Observation).map((alert) => alert.rule);
    expect(quiet).not.toContain("weak-key");
    expect(quiet).not.toContain("sha1-signature");
  });

  it("counts handshake failures, alerts after sourceFailuresBeforeAlert of them, and resolves on a good one", async () => {
    site.serve("flaky.example.test", [leaves.wildcard!, intermediate]);
    const config = configFor(
      { endpoints: [endpoint(site, "flaky.example.test"), endpoint(site, "www.example.test")], retries: 0 },
      { sourceFailuresBeforeAlert: 2 },
    );
    const evaluator = new Evaluator(config);
    let previous = await collect(config);
    expect(evaluator.run(only(previous, "flaky.example.test"))).toEqual([]);

    site.stopServing("flaky.example.test");
    const sweeps: Alert[][] = [];
    for (let sweep = 0; sweep < 2; sweep++) {
      previous = await collect(config, previous);
      // One endpoint failing never fails the source: the other is observed as usual.
      expect(only(previous, "www.example.test").status).toBe("active");
      sweeps.push(evaluator.run(only(previous, "flaky.example.test")));
    }
    const failing = only(previous, "flaky.example.test");
    expect(failing).toMatchObject({
      status: "failed",
      notAfter: certificateFacts(leaves.wildcard!.pem).notAfter,
    });
    expect(failing.details?.failures).toBe("2");
    expect(failing.details?.error).toMatch(
      /^TLS handshake with flaky\.example\.test:\d+ \(via 127\.0\.0\.1\) failed after 1 attempt: /,
    );
    // Kept from the last good handshake, so the served certificate's expiry is still watched.
    expect(servedDetails(failing)?.leaf.subject).toBe("CN=*.example.test");
    expect(sweeps[0]).toEqual([]);
    expect(sweeps[1]?.map((alert) => [alert.rule, alert.transition, alert.stage])).toEqual([
      ["handshake", "new", "failing"],
    ]);
    expect(sweeps[1]?.[0]?.summary).toMatch(/^2 failed handshakes in a row; last: TLS handshake with/);

    site.serve("flaky.example.test", [leaves.wildcard!, intermediate]);
    previous = await collect(config, previous);
    expect(only(previous, "flaky.example.test").details?.failures).toBe("0");
    const recovered = evaluator.run(only(previous, "flaky.example.test"));
    expect(recovered.map((alert) => [alert.rule, alert.transition])).toEqual([["handshake", "resolved"]]);
  });

  it("resolves a handshake alert even while the served certificate's expiry still fires", async () => {
    site.serve("late.example.test", [leaves.late!, intermediate]);
    const config = configFor(
      { endpoints: [endpoint(site, "late.example.test")], retries: 0 },
      { sourceFailuresBeforeAlert: 1 },
    );
    const evaluator = new Evaluator(config);
    let previous = await collect(config);
    expect(evaluator.run(previous[0] as Observation).map((alert) => alert.rule)).toEqual(["expiry"]);
    site.stopServing("late.example.test");
    previous = await collect(config, previous);
    expect(evaluator.run(previous[0] as Observation).map((alert) => alert.rule)).toEqual(["handshake"]);
    site.serve("late.example.test", [leaves.late!, intermediate]);
    previous = await collect(config, previous);
    expect(evaluator.run(previous[0] as Observation).map((alert) => [alert.rule, alert.transition])).toEqual([
      ["handshake", "resolved"],
    ]);
  });

  it("resolves the expiry once the endpoint serves a renewed certificate, even one flagged for its content", async () => {
    const weak = { key: makeKey({ rsa: 1024 }), hash: "sha1" as const };
    site.serve("renew.example.test", [makeLeaf(NOW, ["renew.example.test"], 20, undefined, weak)]);
    const config = configFor({ endpoints: [endpoint(site, "renew.example.test")] });
    const evaluator = new Evaluator(config);
    let previous = await collect(config);
    expect(evaluator.run(previous[0] as Observation).map((alert) => alert.rule)).toEqual([
      "expiry",
      "weak-key",
      "sha1-signature",
    ]);
    site.serve("renew.example.test", [makeLeaf(NOW, ["renew.example.test"], 200, undefined, weak)]);
    previous = await collect(config, previous);
    const renewed = evaluator.run(previous[0] as Observation);
    expect(renewed.map((alert) => [alert.rule, alert.transition])).toEqual([
      // Another certificate: its findings are its own news.
      ["weak-key", "new"],
      ["sha1-signature", "new"],
      ["expiry", "resolved"],
    ]);
    expect(renewed[2]?.summary).toMatch(
      /^resolved \(was 30d\); the endpoint answers and serves a certificate valid until /,
    );
  });

  it("keeps to the concurrency bound, the default one included", async () => {
    site.delayMs = 150;
    try {
      const names = Array.from({ length: 40 }, (_, index) => `n${index}.example.test`);
      site.mostInFlight = 0;
      const bounded = await collect(
        configFor({ endpoints: names.map((name) => endpoint(site, name)), concurrency: 5 }),
      );
      expect(bounded).toHaveLength(40);
      expect(site.mostInFlight).toBe(5);
      site.mostInFlight = 0;
      await collect(configFor({ endpoints: names.map((name) => endpoint(site, name)) }));
      expect(site.mostInFlight).toBe(DEFAULT_PROBE_CONCURRENCY);
    } finally {
      site.delayMs = 0;
    }
  });

  it("stops at the abort signal: a sweep cut short fails instead of recording failed endpoints", async () => {
    site.delayMs = 2_000;
    try {
      const config = configFor({ endpoints: [endpoint(site, "www.example.test")] });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("time budget spent")), 100);
      const walk = async () => {
        for await (const _ of collectEndpoints(tlsSource(config), contextWith([], controller.signal))) {
          // draining
        }
      };
      await expect(walk()).rejects.toThrow("time budget spent");
    } finally {
      site.delayMs = 0;
    }
  });

  it("shows hostile subjects and SANs only neutralised, and bounded", async () => {
    const huge = `${HOSTILE}${"y".repeat(30_000)}`;
    const hostile = makeCertificate({
      commonName: huge,
      dnsNames: [`${HOSTILE}.example.test`, "x".repeat(60_000)],
      notBefore: new Date(NOW.getTime() - DAY),
      notAfter: new Date(NOW.getTime() + 2 * DAY),
      issuer: intermediate,
    });
    site.serve("hostile.example.test", [hostile, intermediate]);
    const config = configFor({ endpoints: [endpoint(site, "hostile.example.test")] });
    const [observation] = await collect(config);
    expect(observation?.status).toBe("active");
    expect(JSON.stringify(observation).length).toBeLessThan(10_000);
    const alerts = new Evaluator(config).run(observation as Observation);
    expect(alerts.map((alert) => alert.rule)).toEqual(expect.arrayContaining(["expiry", "hostname"]));
    for (const alert of alerts) {
      for (const text of Object.values(facts(alert))) expect(text).not.toMatch(/[\r\n\u202e]/);
    }
    const digest: Digest = { alerts, generatedAt: NOW.toISOString() };
    expect(html(digest)).not.toContain("<b>markup</b>");
    const text = plainText(digest);
    expect(text).not.toContain("\r");
    expect(text.length).toBeLessThan(8_000);
  });
});

describe("probe failures", () => {
  let silent: Server;
  let port = 0;
  const held: Socket[] = [];

  beforeAll(async () => {
    // Accepts connections and never answers: a black-holed endpoint.
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    port = typeof address === "object" && address ? address.port : 0;
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it("times out, retries with a pause, and reports what failed", async () => {
    const started = Date.now();
    const result = await probe(
      { host: "slow.example.test", port, serverName: "slow.example.test", connectTo: "127.0.0.1" },
      { timeoutMs: 150, retries: 1, retryPauseMs: 100 },
    );
    expect(result).toMatchObject({
      ok: false,
      attempts: 2,
      code: "ETIMEDOUT",
      error: "no handshake within 150 ms",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it("records a refused connection as the endpoint's failure, not the source's", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const address = closed.address();
    const closedPort = typeof address === "object" && address ? address.port : 0;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const config = configFor({
      endpoints: [{ host: "gone.example.test", port: closedPort, connectTo: "127.0.0.1" }],
      retries: 0,
    });
    const [observation] = await collect(config);
    expect(observation).toMatchObject({ status: "failed", rawStatus: "handshake failed", domains: [] });
    expect(observation?.details?.error).toMatch(/ECONNREFUSED/);
    expect(observation?.notAfter).toBeUndefined();
  });
});

describe("tls-endpoints through a whole sweep (dynalite, a Slack receiver)", () => {
  const site = new TlsSite();
  const slack = new SlackReceiverSim();
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;

  beforeAll(async () => {
    const { intermediate } = makeCa(NOW);
    site
      .serve("good.example.test", [makeLeaf(NOW, ["good.example.test"], 90, intermediate), intermediate])
      .serve("down.example.test", [makeLeaf(NOW, ["down.example.test"], 90, intermediate), intermediate]);
    let slackUrl: string;
    [, slackUrl, dynamo] = await Promise.all([site.start(), slack.listen(), startEmbeddedDynamo()]);
    store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    await store.ensureTable();
    config = await parseConfig(
      `
sources:
  - name: edge
    type: tls-endpoints
    retries: 0
    endpoints:
      - { host: good.example.test, port: ${site.port}, connectTo: 127.0.0.1 }
      - { host: down.example.test, port: ${site.port}, connectTo: 127.0.0.1 }
alerts: { sourceFailuresBeforeAlert: 2 }
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }
`,
      "test.yml",
    );
  });
  afterAll(async () => {
    store.close();
    await http.close();
    await Promise.all([site.close(), slack.close(), dynamo.close()]);
  });

  it("stores each endpoint, alerts on an endpoint failing twice in a row, and resolves it on a good handshake", async () => {
    const sweep = (hours: number) =>
      runSweep({ config, store, http, now: new Date(NOW.getTime() + hours * 3_600_000) });
    const first = await sweep(0);
    expect(first.sources.map((source) => [source.name, source.ok])).toEqual([["edge", true]]);
    expect(first.alerts).toEqual([]);

    site.stopServing("down.example.test");
    const failedOnce = await sweep(1);
    expect(failedOnce.exitCode).toBe(0);
    expect(failedOnce.alerts).toEqual([]);
    const failedTwice = await sweep(2);
    expect(failedTwice.sources[0]?.ok).toBe(true);
    expect(failedTwice.alerts.map((alert) => [alert.fingerprint, alert.transition])).toEqual([
      [`handshake:edge/endpoint/down.example.test:${site.port}@127.0.0.1`, "new"],
    ]);
    expect(JSON.stringify(slack.posts.at(-1)?.body)).toContain("failed handshakes in a row");

    site.serve("down.example.test", [makeLeaf(NOW, ["down.example.test"], 90, makeCa(NOW).intermediate)]);
    const recovered = await sweep(3);
    expect(recovered.alerts.map((alert) => [alert.fingerprint, alert.transition])).toEqual([
      [`handshake:edge/endpoint/down.example.test:${site.port}@127.0.0.1`, "resolved"],
    ]);
  });
});

describe("tls-endpoints bounds through a whole sweep (dynalite, a Slack receiver)", () => {
  const site = new TlsSite();
  const slack = new SlackReceiverSim();
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let slackUrl: string;
  let blackhole: Server;
  let blackholePort = 0;
  const held: Socket[] = [];
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const CONTROL = /[\u0000-\u001f\u007f]/;

  beforeAll(async () => {
    const { intermediate } = makeCa(NOW);
    site.serve("good.example.test", [makeLeaf(NOW, ["good.example.test"], 3, intermediate), intermediate]);
    // Accepts the TCP connection and never answers the TLS handshake.
    blackhole = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
    const address = blackhole.address();
    blackholePort = typeof address === "object" && address ? address.port : 0;
    [, slackUrl, dynamo] = await Promise.all([site.start(), slack.listen(), startEmbeddedDynamo()]);
    store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    await store.ensureTable();
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    store.close();
    await http.close();
    await Promise.all([
      site.close(),
      slack.close(),
      dynamo.close(),
      new Promise<void>((resolve) => blackhole.close(() => resolve())),
    ]);
  });

  const sweepConfig = (name: string, source: Record<string, unknown>) =>
    configSchema.parse({
      sources: [{ name, type: "tls-endpoints", retries: 0, ...source }],
      receivers: [{ name: "ops-slack", type: "slack", webhookUrl: slackUrl }],
    });
  const sweep = (config: Config, hours: number) =>
    runSweep({ config, store, http, now: new Date(NOW.getTime() + hours * 3_600_000) });

  it("keeps what a timeBudget cut short probed, keeps the others as last seen, and takes nothing as missing", async () => {
    const good = { host: "good.example.test", port: site.port, connectTo: "127.0.0.1" };
    const goodKey = `budget/endpoint/good.example.test:${site.port}@127.0.0.1`;
    const blackholes = ["a", "b", "c"].map((name) => ({
      host: `${name}.blackhole.test`,
      port: blackholePort,
      connectTo: "127.0.0.1",
    }));
    const blackholeKeys = blackholes.map(
      (target) => `budget/endpoint/${target.host}:${blackholePort}@127.0.0.1`,
    );

    // First the black holes alone, with a short timeout: stored as failed handshakes.
    const before = await sweep(sweepConfig("budget", { endpoints: blackholes, timeout: "1s" }), 0);
    expect(before.sources.map((source) => [source.name, source.ok])).toEqual([["budget", true]]);
    let objects = await store.loadObjects("budget");
    expect([...objects.keys()].sort()).toEqual(blackholeKeys);

    // Then a timeout longer than the budget: the good endpoint is done long before the budget runs out.
    const started = Date.now();
    const cut = await sweep(
      sweepConfig("budget", { endpoints: [good, ...blackholes], timeout: "20s", timeBudget: "3s" }),
      1,
    );
    expect(Date.now() - started).toBeLessThan(15_000);
    const [report] = cut.sources;
    expect(report).toMatchObject({ name: "budget", ok: true, missing: 0, gone: 0 });
    expect(report?.error).toBeUndefined();
    expect(report?.warnings).toHaveLength(1);
    expect(report?.warnings[0]).toMatch(/^3s, the source's timeBudget, ran out after 1 endpoints/);
    expect(cut.exitCode).toBe(0);
    expect(cut.alerts.map((alert) => [alert.fingerprint, alert.transition, alert.severity])).toContainEqual([
      `expiry:${goodKey}`,
      "new",
      "critical",
    ]);
    objects = await store.loadObjects("budget");
    expect(objects.get(goodKey)?.observation).toMatchObject({
      status: "active",
      domains: ["good.example.test"],
    });
    for (const key of blackholeKeys) {
      // Not probed this time: as the last sweep stored them, not counted again, and not missing.
      const kept = objects.get(key);
      expect(kept?.observation).toMatchObject({ status: "failed" });
      expect(kept?.observation.details?.failures).toBe("1");
      expect(kept?.missingSince).toBeUndefined();
    }

    // The black holes leave the config: fewer endpoints given is no API losing some, so no drop to distrust. They are
    // missing, then gone on the next sweep; nothing about the endpoint probed before resolves.
    const after = (hours: number) =>
      sweep(
        configSchema.parse({
          sources: [
            { name: "budget", type: "tls-endpoints", retries: 0, endpoints: [good], timeBudget: "3s" },
          ],
          receivers: [{ name: "ops-slack", type: "slack", webhookUrl: slackUrl }],
        }),
        hours,
      );
    const removed = await after(2);
    expect(removed.sources[0]).toMatchObject({ name: "budget", ok: true, warnings: [], missing: 3 });
    expect(removed.alerts.filter((alert) => alert.fingerprint.endsWith(goodKey))).toEqual([]);
    objects = await store.loadObjects("budget");
    expect(objects.get(goodKey)?.observation.status).toBe("active");
    expect(objects.get(goodKey)?.missingSince).toBeUndefined();
    expect(objects.get(goodKey)?.alerts).toHaveProperty("expiry");
    for (const key of blackholeKeys) expect(objects.get(key)?.missingSince).toBeDefined();
    const gone = await after(3);
    expect(gone.sources[0]).toMatchObject({ ok: true, gone: 3, missing: 0, objects: 1 });
    expect(gone.alerts.filter((alert) => alert.fingerprint.endsWith(goodKey))).toEqual([]);
  }, 30_000);

  it("stores at most 8 chain certificates, their hostile names on one line, and saves", async () => {
    // A chain of 20 intermediates, each named by 1,000 control characters and line breaks; distinct names (not
    // whitespace alone) so that the client can link each to its issuer.
    const controlName = (index: number) => {
      const unit = `\r\n${String.fromCharCode(1 + (index % 8))}\u007f${String.fromCharCode(14 + Math.floor(index / 8))}`;
      return unit.repeat(200).slice(0, 1_000);
    };
    const chain: Issued[] = [];
    let issuer: Issued | undefined;
    for (let index = 20; index >= 1; index--) {
      issuer = makeCertificate({
        commonName: controlName(index),
        notBefore: new Date(NOW.getTime() - 30 * DAY),
        notAfter: new Date(NOW.getTime() + 3650 * DAY),
        issuer,
        ca: true,
      });
      chain.unshift(issuer);
    }
    expect(new Set(chain.map((certificate) => certificate.commonName)).size).toBe(20);
    const leaf = makeLeaf(NOW, ["long.example.test"], 90, chain[0]);
    site.serve("long.example.test", [leaf, ...chain]);
    const key = `chain/endpoint/long.example.test:${site.port}@127.0.0.1`;
    const done = await sweep(
      sweepConfig("chain", {
        endpoints: [{ host: "long.example.test", port: site.port, connectTo: "127.0.0.1" }],
      }),
      0,
    );
    expect(done.sources[0]).toMatchObject({ name: "chain", ok: true });
    expect(done.sources[0]?.error).toBeUndefined();
    const stored = (await store.loadObjects("chain")).get(key)?.observation;
    expect(stored?.status).toBe("active");
    const served = stored?.details?.served ?? "";
    expect(served.length).toBeGreaterThan(0);
    expect.soft(served.length).toBeLessThan(40_000);
    const parsed = JSON.parse(served) as {
      leaf: { subject: string };
      chain: { subject: string; issuer: string }[];
    };
    expect(parsed.chain).toHaveLength(8);
    for (const certificate of [parsed.leaf, ...parsed.chain]) {
      expect.soft(certificate.subject).not.toMatch(CONTROL);
    }
    for (const certificate of parsed.chain) expect.soft(certificate.issuer).not.toMatch(CONTROL);
  }, 30_000);
});
