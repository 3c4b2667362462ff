import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import type { Output } from "../lib/cli/output.js";
import { type ScmCertificate, scmTime } from "../sim/fleet.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import type { SimServer } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { KEYS } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const DAY_MS = 86_400_000;

function cert(id: string, name: string, days: number | undefined, status = "ISSUED", sans: string[] = []) {
  return {
    id,
    name,
    domain: `${name.replace(/\W+/g, "-")}.example.com`,
    sans: sans.join(";"),
    type: "DV_SSL_CERT",
    brand: "GLOBALSIGN",
    signature_algorithm: "SHA256WITHRSA",
    deploy_support: true,
    expire_time: days === undefined ? "" : scmTime(new Date(NOW.getTime() + days * DAY_MS)),
    domain_type: "SINGLE_DOMAIN",
    validity_period: 12,
    status,
    domain_count: 1 + sans.length,
    wildcard_count: 0,
  } satisfies ScmCertificate;
}

const PROD = [
  cert("p1", "shop", 45.5, "ISSUED", ["www.shop.example.com", "m.shop.example.com"]),
  cert("p2", "api", 3.5),
  cert("p3", "old", -2.5, "EXPIRED"),
  cert("p4", "mail", 20.5),
  cert("p5", "leaked", 200.5, "REVOKED"),
  cert("p6", "new-order", undefined, "CHECKING"),
  cert("p7", "cdn", 10.5, "UPLOAD"),
  cert("p8", 'legacy, "do not touch"', 60.5),
];
const EDGE = [cert("e1", "edge", 5.5), cert("e2", "edge-next", 100.5)];

interface Captured extends Output {
  stdout: string[];
  stderr: string[];
  /** Every live block drawn, in order. */
  blocks: string[][];
}

/** `isTTY`: stdout and stderr are a 100-column terminal. */
function capture(isTTY = false): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const blocks: string[][] = [];
  const status = { draw: (lines: string[]) => blocks.push(lines), size: () => ({ columns: 100, rows: 40 }) };
  return {
    stdout,
    stderr,
    blocks,
    isTTY,
    out: (line) => stdout.push(line),
    err: (line) => stderr.push(line),
    ...(isTTY ? { status } : {}),
  };
}

async function run(args: string[], output = capture()) {
  const code = await main(["node", "certwatch", ...args], output);
  return { code, stdout: output.stdout.join("\n"), stderr: output.stderr.join("\n"), output };
}

function sourceYaml(name: string, url: string): string {
  return `
  - name: ${name}
    type: huawei-scm
    endpoint: ${url}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    region: ap-southeast-1
    timeout: 2s`;
}

describe("certwatch report, history and sweep progress", () => {
  const history = PROD.slice(0, 3).map((item) => ({ ...item }));
  const sims: SimServer[] = [
    scmSimulator({ certificates: PROD, credentials: KEYS, clock: () => NOW.getTime() }),
    scmSimulator({ certificates: EDGE, credentials: KEYS, clock: () => NOW.getTime() }),
    scmSimulator({ certificates: history, credentials: KEYS, clock: () => NOW.getTime() }),
  ];
  const slack = new SlackReceiverSim();
  let dir: string;
  let config: string;
  let historyConfig: string;

  beforeAll(async () => {
    const [prodUrl, edgeUrl, historyUrl] = await Promise.all(sims.map((sim) => sim.listen()));
    const receivers = `receivers: [{ name: ops-slack, type: slack, webhookUrl: "${await slack.listen()}" }]\n`;
    dir = await mkdtemp(join(tmpdir(), "certwatch-report-"));
    config = join(dir, "certwatch.yml");
    historyConfig = join(dir, "history.yml");
    const store = (name: string) => `store: { type: embedded, path: ${JSON.stringify(join(dir, name))} }\n`;
    await writeFile(
      config,
      `${store("store")}${receivers}sources:${sourceYaml("hw-prod", prodUrl as string)}${sourceYaml("hw-edge", edgeUrl as string)}\n`,
    );
    await writeFile(
      historyConfig,
      `${store("history")}${receivers}sources:${sourceYaml("hw-hist", historyUrl as string)}\n`,
    );
  });
  afterAll(async () => {
    await Promise.all([...sims.map((sim) => sim.close()), slack.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("reports an empty inventory with a note, exit 0, and creates no store before any sweep", async () => {
    const result = await run(["report", "--config", config, "--now", NOW.toISOString()]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("EXPIRES  DAYS LEFT  SEVERITY  NAME  DOMAINS  KIND  SOURCE  STATUS  ID");
    expect(result.stderr).toContain("nothing swept into the store");
    expect(existsSync(join(dir, "store"))).toBe(false);
  });

  it("a piped sweep prints a plain line per finished source; on a terminal a live line per source, with totals", async () => {
    const piped = await run(["sweep", "--config", config, "--now", NOW.toISOString()]);
    expect(piped.code).toBe(0);
    expect(piped.output.blocks).toEqual([]);
    const plain = piped.output.stderr;
    expect(plain).toHaveLength(2);
    expect(plain.find((line) => line.startsWith("hw-prod"))).toMatch(
      /^hw-prod\s+huawei-scm\s+ok\s+8 objects/,
    );
    expect(plain.find((line) => line.startsWith("hw-edge"))).toMatch(
      /^hw-edge\s+huawei-scm\s+ok\s+2 objects/,
    );
    expect(piped.stderr).not.toContain("\x1b");

    const terminal = await run(["sweep", "--config", config, "--now", NOW.toISOString()], capture(true));
    expect(terminal.code).toBe(0);
    const lines = terminal.output.blocks.flat();
    expect(lines.some((line) => /^hw-prod +[1-8] of 8 objects {2}\d+ calls {2}\d+s$/.test(line))).toBe(true);
    expect(lines.some((line) => /^hw-edge +[12] of 2 objects {2}\d+ calls {2}\d+s$/.test(line))).toBe(true);
    expect(lines.every((line) => line.length < 100)).toBe(true);
    // The block is cleared before a finished source's line is printed, and nothing is left of it at the end.
    expect(terminal.output.blocks.at(-1)).toEqual([]);
    expect(terminal.stderr).toMatch(/hw-prod\s+huawei-scm\s+ok/);

    const json = await run(
      ["sweep", "--config", config, "--now", NOW.toISOString(), "--json"],
      capture(true),
    );
    expect(json.output.blocks).toEqual([]);
    expect(json.stderr).toBe("");
  });

  it("prints a plain table when piped: live problems first, each part soonest expiry first, objects without one last; the native id", async () => {
    const result = await run(["report", "--config", config, "--now", NOW.toISOString()]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).not.toContain("\x1b[");
    expect(result.stdout.split("\n")).toEqual([
      "EXPIRES     DAYS LEFT  SEVERITY  NAME                    DOMAINS                           KIND         SOURCE   STATUS   ID",
      "2026-11-19  -2         critical  old                     old.example.com                   certificate  hw-prod  expired  p3",
      "2026-11-25  3          critical  api                     api.example.com                   certificate  hw-prod  active   p2",
      "2026-11-27  5          critical  edge                    edge.example.com                  certificate  hw-edge  active   e1",
      "2026-12-02  10         warning   cdn                     cdn.example.com                   certificate  hw-prod  active   p7",
      "2026-12-12  20         warning   mail                    mail.example.com                  certificate  hw-prod  active   p4",
      "2027-06-10  200        critical  leaked                  leaked.example.com                certificate  hw-prod  revoked  p5",
      "2027-01-06  45         ok        shop                    shop.example.com +2               certificate  hw-prod  active   p1",
      '2027-01-21  60         ok        legacy, "do not touch"  legacy-do-not-touch-.example.com  certificate  hw-prod  active   p8',
      "2027-03-02  100        ok        edge-next               edge-next.example.com             certificate  hw-edge  active   e2",
      "-           -          ok        new-order               new-order.example.com             certificate  hw-prod  pending  p6",
    ]);
  });

  it("colours rows by severity on a terminal", async () => {
    const result = await run(["report", "--config", config, "--now", NOW.toISOString()], capture(true));
    const lines = result.stdout.split("\n");
    const [red, yellow, reset] = ["\x1b[31m", "\x1b[33m", "\x1b[0m"];
    expect(lines[1]?.startsWith(`${red}2026-11-19 `) && lines[1].endsWith(`p3${reset}`)).toBe(true);
    expect(lines[4]?.startsWith(`${yellow}2026-12-02 `)).toBe(true);
    expect(lines[7]?.startsWith("2027-01-06 ")).toBe(true);
  });

  it("--format json carries every normalized field plus severity and daysLeft", async () => {
    const result = await run(["report", "--config", config, "--now", NOW.toISOString(), "--format", "json"]);
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout);
    expect(rows.map((row: { name: string }) => row.name)).toEqual([
      "old",
      "api",
      "edge",
      "cdn",
      "mail",
      "leaked",
      "shop",
      'legacy, "do not touch"',
      "edge-next",
      "new-order",
    ]);
    expect(rows[6]).toEqual({
      key: "hw-prod/certificate/p1",
      kind: "certificate",
      nativeId: "p1",
      name: "shop",
      domains: ["shop.example.com", "www.shop.example.com", "m.shop.example.com"],
      notAfter: "2027-01-06T12:00:00.000Z",
      status: "active",
      rawStatus: "ISSUED",
      labels: { source: "hw-prod", provider: "huawei", product: "scm", region: "ap-southeast-1" },
      severity: "ok",
      daysLeft: 45,
    });
    expect(rows[9]).toMatchObject({ status: "pending", rawStatus: "CHECKING", severity: "ok" });
    expect(rows[9]).not.toHaveProperty("daysLeft");
  });

  it("--format csv has a header, flattened labels and RFC 4180 quoting", async () => {
    const result = await run(["report", "--config", config, "--now", NOW.toISOString(), "--format", "csv"]);
    const lines = result.stdout.split("\n");
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe(
      "key,kind,nativeId,name,domains,notBefore,notAfter,daysLeft,severity,status,rawStatus,revokedAt,updatedAt," +
        "successorNativeId,successorNotAfter,replacedBy,labels.product,labels.provider,labels.region,labels.source",
    );
    expect(lines[1]).toBe(
      "hw-prod/certificate/p3,certificate,p3,old,old.example.com,,2026-11-19T12:00:00.000Z,-2,critical,expired,EXPIRED,,,,,,scm,huawei,ap-southeast-1,hw-prod",
    );
    expect(lines[7]).toBe(
      "hw-prod/certificate/p1,certificate,p1,shop,shop.example.com www.shop.example.com m.shop.example.com,,2027-01-06T12:00:00.000Z,45,ok,active,ISSUED,,,,,,scm,huawei,ap-southeast-1,hw-prod",
    );
    expect(lines[8]).toMatch(/^hw-prod\/certificate\/p8,certificate,p8,"legacy, ""do not touch""",/);
  });

  it("--within, --source and --kind narrow the report; --out writes a file", async () => {
    const names = async (...args: string[]) => {
      const result = await run([
        "report",
        "--config",
        config,
        "--now",
        NOW.toISOString(),
        "--format",
        "json",
        ...args,
      ]);
      expect(result.code).toBe(0);
      return JSON.parse(result.stdout).map((row: { name: string }) => row.name);
    };
    expect(await names("--within", "14")).toEqual(["old", "api", "edge", "cdn"]);
    expect(await names("--within", "0")).toEqual(["old"]);
    expect(await names("--source", "hw-edge")).toEqual(["edge", "edge-next"]);
    expect(await names("--source", "hw-edge", "--source", "hw-prod", "--within", "5")).toEqual([
      "old",
      "api",
    ]);
    expect(await names("--kind", "certificate", "--within", "4")).toEqual(["old", "api"]);
    expect(await names("--kind", "deployment-task")).toEqual([]);

    const file = join(dir, "report.csv");
    const written = await run([
      "report",
      "--config",
      config,
      "--now",
      NOW.toISOString(),
      "--format",
      "csv",
      "--out",
      file,
    ]);
    expect(written).toMatchObject({ code: 0, stdout: "", stderr: `10 objects written to ${file}` });
    expect((await readFile(file, "utf8")).split("\n")).toHaveLength(12);
  });

  it("exits 2 for bad flags", async () => {
    for (const args of [
      ["--within", "soon"],
      ["--source", "nope"],
      ["--kind", "dog"],
      ["--format", "pdf"],
      ["--now", "yesterday"],
    ]) {
      expect((await run(["report", "--config", config, ...args])).code, args.join(" ")).toBe(2);
    }
  });

  it("history tells first seen, renewals, status changes and gone, in time order", async () => {
    const at = (days: number) => new Date(NOW.getTime() + days * DAY_MS).toISOString();
    const sweep = async (days: number) =>
      expect((await run(["sweep", "--config", historyConfig, "--now", at(days)])).code).toBe(0);
    const [shop, api] = history as [ScmCertificate, ScmCertificate];
    await sweep(0);
    shop.expire_time = scmTime(new Date(NOW.getTime() + 410.5 * DAY_MS));
    api.status = "REVOKED";
    await sweep(1);
    await sweep(2); // nothing changed: no snapshot, no line
    history.splice(0, 1);
    await sweep(3);

    const shopHistory = await run(["history", "p1", "--config", historyConfig]);
    expect(shopHistory.code).toBe(0);
    expect(shopHistory.stdout.split("\n")).toEqual([
      `${at(0)}  hw-hist/certificate/p1  shop  first seen: active (ISSUED), valid until 2027-01-06T12:00:00.000Z`,
      `${at(1)}  hw-hist/certificate/p1  shop  renewed: valid until 2027-01-06T12:00:00.000Z → 2028-01-06T12:00:00.000Z`,
      `${at(3)}  hw-hist/certificate/p1  shop  gone: no longer listed by the source`,
    ]);
    const byDomain = await run([
      "history",
      "API.example.com",
      "--config",
      historyConfig,
      "--source",
      "hw-hist",
    ]);
    expect(byDomain.stdout.split("\n")).toEqual([
      `${at(0)}  hw-hist/certificate/p2  api  first seen: active (ISSUED), valid until 2026-11-25T12:00:00.000Z`,
      `${at(1)}  hw-hist/certificate/p2  api  status active (ISSUED) → revoked (REVOKED)`,
    ]);
    const byKey = await run(["history", "hw-hist/certificate/p3", "--config", historyConfig]);
    expect(byKey.stdout.split("\n")).toHaveLength(1);
    const unknown = await run(["history", "nothing.example.com", "--config", historyConfig]);
    expect(unknown).toMatchObject({ code: 2, stdout: "" });
    expect(unknown.stderr).toContain("no recorded history for nothing.example.com");
  });
});
