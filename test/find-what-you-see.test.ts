import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import { type ChatMessage, ChatReceiverSim } from "../sim/chat-receivers.js";
import { type ScmCertificate, scmFleet, scmTime } from "../sim/fleet.js";
import { type IdentityCenterFleet, identityCenterSimulator } from "../sim/huawei-identity-center.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { SmtpSink } from "../sim/smtp.js";
import { makeCertificate } from "../sim/tls-site.js";
import { KEYS } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const DAY_MS = 86_400_000;

const [template] = scmFleet({ count: 1, now: NOW }) as [ScmCertificate];
const scmCert = (
  id: string,
  name: string,
  days: number,
  status = "ISSUED",
  domain = `${name}.example.com`,
) => ({
  ...template,
  id,
  name,
  domain,
  sans: "",
  domain_count: 1,
  wildcard_count: 0,
  domain_type: "SINGLE_DOMAIN",
  status,
  expire_time: scmTime(new Date(NOW.getTime() + days * DAY_MS)),
});

const SCM = [
  scmCert("p1", "legacy", -47.5, "EXPIRED"),
  scmCert("p2", "cdn", 10.5),
  scmCert("p3", "cdn", 12.5, "ISSUED", "cdn-eu.example.com"),
  scmCert("p4", "www", 5.5),
  // Covers www's domain and lasts longer: www is replaced, and no longer alerts.
  scmCert("p5", "www-2027", 400.5, "ISSUED", "www.example.com"),
  scmCert("p6", "api", 3.5),
];

const samlCertificate = (id: string, status: string, days: number) => ({
  certificate_id: id,
  algorithm: "SHA256withECDSA",
  key_size: "256",
  issue_date: NOW.getTime() + (days - 365) * DAY_MS,
  expiry_date: NOW.getTime() + days * DAY_MS,
  status,
  certificate: makeCertificate({
    commonName: `SAML signing ${id}`,
    notBefore: new Date(NOW.getTime() + (days - 365) * DAY_MS),
    notAfter: new Date(NOW.getTime() + days * DAY_MS),
  }).pem,
});

/** A SAML application whose active certificate expires in 20 days, beside an inactive one that expired a year ago. */
const SSO: IdentityCenterFleet = {
  instanceId: "ins-0123456789abcdef",
  applications: [
    {
      application_instance_id: "app-ins-0001",
      name: "jira-saml",
      status: "ENABLED",
      certificates: [
        samlCertificate("cer-live", "ACTIVE", 20.5),
        samlCertificate("cer-old", "INACTIVE", -345),
      ],
    },
  ],
};

async function run(...args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const output = {
    out: (line: string) => stdout.push(line),
    err: (line: string) => stderr.push(line),
    isTTY: false,
  };
  const code = await main(["node", "certwatch", ...args], output);
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
}

describe("find what you see: one day count, live problems first, labels, and history and ack by what messages show", () => {
  const scm = scmSimulator({ certificates: SCM, credentials: KEYS, clock: () => NOW.getTime() });
  const sso = identityCenterSimulator({ fleet: SSO, credentials: KEYS });
  const slack = new SlackReceiverSim();
  const smtp = new SmtpSink();
  const wecom = new ChatReceiverSim("wecom");
  let dir: string;
  let config: string;
  const report = (...args: string[]) =>
    run("report", "--config", config, "--now", NOW.toISOString(), ...args);

  beforeAll(async () => {
    const [scmUrl, ssoUrl, slackUrl, smtpPort, wecomUrl] = await Promise.all([
      scm.listen(),
      sso.listen(),
      slack.listen(),
      smtp.listen(),
      wecom.listen(),
    ]);
    dir = await mkdtemp(join(tmpdir(), "certwatch-find-"));
    config = join(dir, "certwatch.yml");
    await writeFile(
      config,
      `store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }
sources:
  - name: hw-prod
    type: huawei-scm
    endpoint: ${scmUrl}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    labels: { team: payments, owner: "alice *on call*\\nbob" }
  - name: hw-sso
    type: huawei-identity-center
    endpoint: ${ssoUrl}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    instanceId: ${SSO.instanceId}
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }
  - { name: ops-mail, type: email, from: certwatch@test.local, to: [oncall@test.local], smtp: { host: 127.0.0.1, port: ${smtpPort} } }
  - { name: ops-wecom, type: wecom, webhookUrl: "${wecomUrl}" }
`,
    );
    expect((await run("sweep", "--config", config, "--now", NOW.toISOString())).code).toBe(0);
  });
  afterAll(async () => {
    await Promise.all([scm.close(), sso.close(), slack.close(), smtp.close(), wecom.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("a certificate expired 47.5 days ago is 47 days in the message, the table, CSV, JSON and HTML", async () => {
    const slackText = JSON.stringify(slack.posts.map((post) => post.body));
    expect(slackText).toContain("*legacy* expired 47 days ago (2026-10-05)");
    expect(smtp.messages[0]?.text).toContain("legacy expired 47 days ago");

    const table = (await report()).stdout.split("\n").find((line) => line.includes(" legacy "));
    expect(table).toMatch(/^2026-10-05 {2}-47 /);
    const csv = (await report("--format", "csv")).stdout.split("\n");
    const daysLeft = csv[0]?.split(",").indexOf("daysLeft") ?? -1;
    expect(csv.find((line) => line.startsWith("hw-prod/certificate/p1,"))?.split(",")[daysLeft]).toBe("-47");
    const json = JSON.parse((await report("--format", "json")).stdout);
    expect(json.find((row: { nativeId: string }) => row.nativeId === "p1").daysLeft).toBe(-47);
    const html = (await report("--format", "html")).stdout;
    expect(html).toMatch(/<td data-value="2026-10-05T\S+">2026-10-05<\/td><td data-value="-47">-47<\/td>/);
  });

  it("the report puts live problems first, then live objects, then inactive and replaced ones", async () => {
    const rows = JSON.parse((await report("--format", "json")).stdout) as {
      key: string;
      severity: string;
      replacedBy?: string;
    }[];
    expect(rows.map((row) => [row.key, row.severity])).toEqual([
      ["hw-prod/certificate/p1", "critical"],
      ["hw-prod/certificate/p6", "critical"],
      ["hw-prod/certificate/p2", "warning"],
      ["hw-prod/certificate/p3", "warning"],
      ["hw-sso/certificate/app-ins-0001/cer-live", "warning"],
      ["hw-prod/certificate/p5", "ok"],
      ["hw-sso/certificate/app-ins-0001/cer-old", "ok"],
      ["hw-prod/certificate/p4", "ok"],
    ]);
    expect(rows.at(-1)?.replacedBy).toBe("p5");
    const table = (await report()).stdout.split("\n");
    expect(table.at(-1)).toMatch(/ www .* active, replaced {2}p4$/);
  });

  it("a message says whose the alert is: the source's labels, neutralised, in Slack, email and chat", async () => {
    const whose = "owner=alice ";
    const slackText = JSON.stringify(slack.posts.map((post) => post.body));
    // Slack emphasis in a label is shown as look-alikes, and its line break cannot start a line of its own.
    expect(slackText).toContain(`source hw-prod · ${whose}＊on call＊ bob · team=payments_`);
    expect(smtp.messages[0]?.text).toContain(`source hw-prod · ${whose}*on call* bob · team=payments ·`);
    expect(smtp.messages[0]?.html).toContain(`source hw-prod · ${whose}*on call* bob · team=payments<br>`);
    const chat = wecom.messages.map((message: ChatMessage) => JSON.stringify(message.body)).join("");
    expect(chat).toContain(`source hw-prod · ${whose}＊on call＊ bob · team=payments ·`);
    // The labels of one source are not another's.
    expect(slackText).toMatch(/source hw-sso_ ·/);
  });

  it("history takes the name, domain, native id, key and fingerprint a message shows", async () => {
    const expected = (await run("history", "hw-prod/certificate/p1", "--config", config)).stdout;
    expect(expected).toMatch(/hw-prod\/certificate\/p1 {2}legacy {2}first seen: expired \(EXPIRED\)/);
    for (const name of ["legacy", "LEGACY.example.com", "p1", "expiry:hw-prod/certificate/p1"]) {
      expect(await run("history", name, "--config", config), name).toMatchObject({
        code: 0,
        stdout: expected,
      });
    }
  });

  it("history refuses a name that fits several objects, listing their keys, and says when nothing fits", async () => {
    const several = await run("history", "cdn", "--config", config);
    expect(several).toMatchObject({ code: 2, stdout: "" });
    expect(several.stderr.split("\n")).toEqual([
      "cdn names 2 objects; give the key of the one you mean:",
      "  hw-prod/certificate/p2  cdn",
      "  hw-prod/certificate/p3  cdn",
    ]);
    const none = await run("history", "nope.example.com", "--config", config);
    expect(none).toMatchObject({ code: 2, stdout: "" });
    expect(none.stderr).toMatch(/^no recorded history for nope\.example\.com: .* a domain or a name$/);
  });

  it("ack takes a name, a domain or a native id when one alert fires on it, lists several, and refuses what fires nothing", async () => {
    const ack = (what: string) =>
      run("ack", what, "--until", "3d", "--reason", "renewal booked", "--config", config);
    for (const [what, fingerprint] of [
      ["legacy", "expiry:hw-prod/certificate/p1"],
      ["API.example.com", "expiry:hw-prod/certificate/p6"],
      ["app-ins-0001/cer-live", "expiry:hw-sso/certificate/app-ins-0001/cer-live"],
    ]) {
      const done = await ack(what as string);
      expect(done.code, what).toBe(0);
      expect(done.stdout).toMatch(new RegExp(`^acknowledged ${fingerprint} at stage `));
    }
    const several = await ack("cdn");
    expect(several.code).toBe(2);
    expect(several.stderr.split("\n")).toEqual([
      "cdn names 2 firing alerts; give the fingerprint of the one you mean:",
      "  expiry:hw-prod/certificate/p2  cdn: expiry 14d",
      "  expiry:hw-prod/certificate/p3  cdn: expiry 14d",
    ]);
    expect(await ack("www-2027")).toMatchObject({
      code: 2,
      stderr: "www-2027 is not firing (it may have resolved); nothing to acknowledge",
    });
    const none = await ack("nope");
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^no stored object goes by nope\. ack takes an alert fingerprint/);
  });
});
