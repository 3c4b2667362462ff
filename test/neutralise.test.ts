import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import type { Output } from "../lib/cli/output.js";
import { csvField, fit, oneLine, shellWord } from "../lib/model/text.js";
import type { Alert } from "../lib/model/types.js";
import { dingtalkMarkdown } from "../lib/notify/dingtalk.js";
import { emailReceiver } from "../lib/notify/email.js";
import { feishuPost } from "../lib/notify/feishu.js";
import type { Receiver } from "../lib/notify/receiver.js";
import { slackReceiver } from "../lib/notify/slack.js";
import { wecomMarkdown } from "../lib/notify/wecom.js";
import { type ScmCertificate, scmTime } from "../sim/fleet.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { SmtpSink } from "../sim/smtp.js";
import { alert } from "./fixtures.js";
import { KEYS, shellWords } from "./harness.js";

/** What a terminal acts on (every control but the line feed) and what reorders text (bidi controls). */
const UNSAFE = /(?!\n)\p{Cc}|[\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** A hyperlink to a phishing page (OSC 8), a screen clear, a C1 CSI and a right-to-left override. */
const TERMINAL_NAME =
  "\x1b]8;;http://evil.example\x07click me\x1b]8;;\x07 \x1b[2J\u009b31m \u202egnp.exe\u202c";
const FORGED_LINE = "shop\n:white_check_mark: *pay.example.com* resolved";
const FORMULA = '=HYPERLINK("http://evil","x")';
/** Harmless when quoted; anything else runs a command (in a sandbox here: no PATH, HOME a temporary directory). */
const SHELL_ID = "x; rm -rf ~ $(x) '";

const digest = (alerts: Alert[]) => ({ alerts, generatedAt: "2026-11-22T00:00:00.000Z" });

/** A name of `length` characters that all grow when escaped, with a domain as long. */
function oversized(length: number): Alert {
  const name = "&*<".repeat(Math.ceil(length / 3)).slice(0, length);
  const a = alert({ nativeId: "c1", name });
  a.object = { ...a.object, domains: [`${name}.example.com`] };
  return a;
}

/** A failed deployment worker whose job id is SHELL_ID: its action names a `certwatch redeploy` command. */
function failedWorker(): Alert {
  const a = alert({ nativeId: "8004/20017", rule: "deployment", stage: "failed" });
  a.object = { ...a.object, kind: "deployment-task", details: { jobId: SHELL_ID } };
  return a;
}

describe("text helpers", () => {
  it("oneLine turns controls and line breaks into one space and drops bidi controls", () => {
    expect(oneLine("a\r\n\x1b[2Jb\u0085c\u2028d\u202ee\u2066f")).toBe("a [2Jb c def");
    // Zero-width space, soft hyphen, word joiner, a tag character: invisible, so they could make two names alike.
    expect(oneLine("pa\u200By\u00ADpal\u2060.com\u{E0041}")).toBe("paypal.com");
  });

  it("fit counts escaped characters or bytes, never splits a character, and marks the cut", () => {
    expect(fit("abc", 3)).toBe("abc");
    expect(fit("abcd", 3)).toBe("ab…");
    expect(fit("😀😀😀😀", 5)).toBe("😀😀…");
    expect(fit("&&&&", 11, { escape: (char) => (char === "&" ? "&amp;" : char) })).toBe("&amp;&amp;…");
    expect(fit("证书证书", 10, { bytes: true })).toBe("证书…");
  });

  it("shellWord leaves safe words alone and single-quotes the rest", () => {
    expect(shellWord("expiry:hw-prod/certificate/scs1554@x_1.2+3=4,5%")).toBe(
      "expiry:hw-prod/certificate/scs1554@x_1.2+3=4,5%",
    );
    expect(shellWord("")).toBe("''");
    expect(shellWord(SHELL_ID)).toBe(`'x; rm -rf ~ $(x) '\\'''`);
    expect(shellWords(`a ${shellWord(SHELL_ID)} ${shellWord("~")} ${shellWord("*")}`)).toEqual([
      "a",
      SHELL_ID,
      "~",
      "*",
    ]);
  });

  it("csvField makes formulas inert and quotes as RFC 4180 says", () => {
    for (const formula of ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1"]) {
      expect(csvField(formula).replace(/^"/, "")).toMatch(/^'/);
    }
    expect(csvField(FORMULA)).toBe(`"'=HYPERLINK(""http://evil"",""x"")"`);
    expect(csvField("api.example.com")).toBe("api.example.com");
    expect(csvField("a\r\nb")).toBe("a b");
    // Spreadsheets in many locales split on `;`: quoted, a formula after it stays text.
    expect(csvField("x;=1+1")).toBe(`"x;=1+1"`);
  });
});

describe("Slack: untrusted text cannot forge lines, format, link or push the facts out", () => {
  const slack = new SlackReceiverSim();
  let receiver: Receiver;

  beforeAll(async () => {
    const url = await slack.listen();
    receiver = slackReceiver({ name: "ops-slack", type: "slack", language: "en", webhookUrl: url });
  });
  beforeEach(() => {
    slack.posts.length = 0;
  });
  afterAll(async () => {
    await slack.close();
  });

  async function sectionOf(a: Alert): Promise<string> {
    await receiver.send(digest([a]));
    const section = slack.posts[0]?.body.blocks?.find((block) => block.type === "section");
    return section?.text?.text ?? "";
  }

  it("a line break in a name forges no line: no second icon, no bold", async () => {
    const text = await sectionOf(alert({ nativeId: "c1", name: FORGED_LINE }));
    const lines = text.split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe(
      ":red_circle: *shop :white＿check＿mark: ＊pay.example.com＊ resolved* expires in 6 days (2026-12-01)",
    );
    expect(lines.filter((line) => line.startsWith(":white_check_mark:"))).toEqual([]);
    expect(slack.posts[0]?.body.text?.split("\n")).toHaveLength(2);
  });

  it("*, _, ~ and ` in untrusted text are look-alikes; the ack command stays exact in its code span", async () => {
    const text = await sectionOf(alert({ nativeId: "a_b", name: "*bold* _it_ ~gone~ `code`" }));
    const title = /^:red_circle: \*(.*)\* expires/.exec(text)?.[1];
    expect(title).toBe("＊bold＊ ＿it＿ ～gone～ ｀code｀");
    expect(text).toContain(
      "`certwatch ack expiry:hw-test/certificate/a_b --until &lt;time&gt; --reason &lt;text&gt;`",
    );
  });

  it("bare URLs and domains stay readable and are not linked: every mrkdwn text is verbatim", async () => {
    const text = await sectionOf(alert({ nativeId: "c1", name: "log in at https://evil.example/login" }));
    expect(text).toContain("log in at https://evil.example/login");
    expect(text).not.toContain("<http");
    const mrkdwn = (slack.posts[0]?.body.blocks ?? []).flatMap((block) => {
      const b = block as { text?: { type: string; verbatim?: boolean }; elements?: { type: string }[] };
      return [b.text, ...(b.elements ?? [])].filter((t) => t?.type === "mrkdwn");
    });
    expect(mrkdwn.length).toBeGreaterThan(1);
    for (const element of mrkdwn) expect(element).toMatchObject({ verbatim: true });
  });

  it("terminal escapes and bidi controls in a name are gone from the message", async () => {
    await sectionOf(alert({ nativeId: "c1", name: TERMINAL_NAME }));
    expect(JSON.stringify(slack.posts[0]?.body)).not.toMatch(/\\u001b|\\u0007|\u009b|\u202e/);
  });

  it.each([20_000, 100_000])(
    "a %i-character name leaves the expiry and the ack command in a section of at most 3,000 characters",
    async (length) => {
      const text = await sectionOf(oversized(length));
      expect(text.length).toBeLessThanOrEqual(3000);
      expect(text).toContain("…* expires in 6 days (2026-12-01)");
      expect(text).toContain(
        "`certwatch ack expiry:hw-test/certificate/c1 --until &lt;time&gt; --reason &lt;text&gt;`",
      );
      expect(text).not.toMatch(/&(?!amp;|lt;|gt;)/);
      expect(slack.posts[0]?.body.text?.length).toBeLessThan(1000);
    },
  );

  it("the ack command quotes a vendor id for the shell", async () => {
    const text = await sectionOf(alert({ nativeId: SHELL_ID }));
    expect(text).toContain(`\`certwatch ack 'expiry:hw-test/certificate/x; rm -rf ~ $(x) '\\''' --until`);
  });
});

describe("email: one line per fact, capped, and commands a shell reads as shown", () => {
  const smtp = new SmtpSink();
  let receiver: Receiver;

  beforeAll(async () => {
    const port = await smtp.listen();
    receiver = emailReceiver({
      name: "ops-mail",
      type: "email",
      language: "en",
      from: "certwatch@test.local",
      to: ["oncall@test.local"],
      subjectPrefix: "[certwatch]",
      smtp: { host: "127.0.0.1", port, secure: false },
    });
  });
  afterAll(async () => {
    await receiver.close();
    await smtp.close();
  });

  async function mailOf(a: Alert) {
    await receiver.send(digest([a]));
    const mail = smtp.messages.at(-1);
    if (!mail) throw new Error("no mail arrived");
    return mail;
  }

  it("a line break in a name forges no line in the text part; controls and bidi leave both parts", async () => {
    const forged = "shop\n[RESOLVED] pay.example.com resolved (was 7d)";
    const mail = await mailOf(alert({ nativeId: "c1", name: `${forged} ${TERMINAL_NAME}` }));
    const lines = mail.text.split("\n");
    expect(lines.filter((line) => line.startsWith("[RESOLVED]"))).toEqual([]);
    expect(
      lines.filter((line) => line.startsWith("[CRITICAL] shop [RESOLVED] pay.example.com")),
    ).toHaveLength(1);
    for (const part of [mail.text, mail.html, mail.subject]) expect(part).not.toMatch(UNSAFE);
    expect(mail.html).toContain("<strong>shop [RESOLVED] pay.example.com resolved (was 7d) ");
  });

  it.each([20_000, 100_000])(
    "a %i-character name leaves the expiry and the ack command in the first 3,000 characters",
    async (length) => {
      const mail = await mailOf(oversized(length));
      const head = mail.text.slice(0, 3000);
      expect(head).toContain("… expires in 6 days (2026-12-01)");
      expect(head).toContain("certwatch ack expiry:hw-test/certificate/c1 --until <time> --reason <text>");
      expect(mail.subject.length).toBeLessThan(300);
      expect(mail.html.length).toBeLessThan(10_000);
    },
  );

  it("the ack and redeploy commands give the shell the vendor id as one word", async () => {
    const ack = await mailOf(alert({ nativeId: SHELL_ID }));
    const ackLine = /certwatch (ack .*) --until <time> --reason <text>$/m.exec(ack.text)?.[1] ?? "";
    expect(shellWords(ackLine)).toEqual(["ack", `expiry:hw-test/certificate/${SHELL_ID}`]);

    const redeploy = await mailOf(failedWorker());
    const redeployLine = /certwatch (redeploy .*)$/m.exec(redeploy.text)?.[1] ?? "";
    expect(shellWords(redeployLine)).toEqual(["redeploy", "--source", "hw-test", "--job", SHELL_ID]);
  });
});

describe("chat markdown: controls and bidi leave the message", () => {
  it("DingTalk, WeCom and Feishu", () => {
    const d = digest([alert({ nativeId: "c1", name: TERMINAL_NAME })]);
    for (const text of [dingtalkMarkdown(d).text, wecomMarkdown(d), JSON.stringify(feishuPost(d))]) {
      expect(text).not.toMatch(UNSAFE);
      expect(text).not.toMatch(/\\u001b|\\u0007/);
      expect(text).toContain("click me");
    }
  });
});

describe("the terminal and reports: sweep, report and history print no controls from names", () => {
  const NOW = new Date("2026-11-22T00:00:00Z");
  const expiring = (id: string, name: string): ScmCertificate => ({
    id,
    name,
    domain: `${id}.example.com`,
    sans: "",
    type: "DV_SSL_CERT",
    brand: "GLOBALSIGN",
    signature_algorithm: "SHA256WITHRSA",
    deploy_support: true,
    expire_time: scmTime(new Date(NOW.getTime() + 3.5 * 86_400_000)),
    domain_type: "SINGLE_DOMAIN",
    validity_period: 12,
    status: "ISSUED",
    domain_count: 1,
    wildcard_count: 0,
  });
  const certificates = [
    expiring("esc", TERMINAL_NAME),
    expiring("formula", FORMULA),
    expiring("forged", "shop\r\n2026-11-22T00:00:00.000Z  forged line"),
  ];
  const sim = scmSimulator({ certificates, credentials: KEYS, clock: () => NOW.getTime() });
  const slack = new SlackReceiverSim();
  let dir: string;
  let config: string;

  async function run(...args: string[]) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const output: Output = {
      out: (line) => stdout.push(line),
      err: (line) => stderr.push(line),
      isTTY: false,
    };
    const code = await main(["node", "certwatch", ...args, "--config", config], output);
    return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
  }

  beforeAll(async () => {
    const [url, slackUrl] = await Promise.all([sim.listen(), slack.listen()]);
    dir = await mkdtemp(join(tmpdir(), "certwatch-neutralise-"));
    config = join(dir, "certwatch.yml");
    await writeFile(
      config,
      `store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }
sources:
  - name: hw-prod
    type: huawei-scm
    endpoint: ${url}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    region: ap-southeast-1
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }
`,
    );
  });
  afterAll(async () => {
    await Promise.all([sim.close(), slack.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("sweep, plain and --json", async () => {
    const plain = await run("sweep", "--now", NOW.toISOString());
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain("click me");
    expect(plain.stdout).not.toMatch(UNSAFE);
    expect(plain.stdout.split("\n").filter((line) => line.includes("forged line"))).toEqual([
      expect.stringMatching(/^ {2}critical +shop 2026-11-22T00:00:00.000Z {2}forged line/),
    ]);

    const json = await run("sweep", "--now", new Date(NOW.getTime() + 3_600_000).toISOString(), "--json");
    expect(json.stdout).not.toMatch(UNSAFE);
    expect(JSON.parse(json.stdout).sources[0]).toMatchObject({ name: "hw-prod", ok: true });
  });

  it("report as a table, JSON, CSV and HTML on stdout", async () => {
    for (const format of ["table", "json", "csv", "html"]) {
      const result = await run("report", "--now", NOW.toISOString(), "--format", format);
      expect(result.code, format).toBe(0);
      expect(result.stdout, format).not.toMatch(UNSAFE);
      expect(result.stdout, format).toContain("click me");
    }
    const json = await run("report", "--now", NOW.toISOString(), "--format", "json");
    expect(
      JSON.parse(json.stdout)
        .map((row: { name: string }) => row.name)
        .sort(),
    ).toEqual(certificates.map((cert) => cert.name).sort());
  });

  it("report --format csv neutralises formulas and keeps one line per object", async () => {
    const csv = await run("report", "--now", NOW.toISOString(), "--format", "csv");
    const lines = csv.stdout.split("\n");
    expect(lines).toHaveLength(certificates.length + 1);
    expect(lines.find((line) => line.startsWith("hw-prod/certificate/formula,"))).toContain(
      `,formula,"'=HYPERLINK(""http://evil"",""x"")",formula.example.com,`,
    );
  });

  it("history", async () => {
    const result = await run("history", "esc");
    expect(result.stdout).toContain("first seen");
    expect(result.stdout).not.toMatch(UNSAFE);
  });
});
