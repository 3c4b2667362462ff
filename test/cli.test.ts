import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../lib/config/load.js";
import { main } from "../lib/cli/main.js";
import type { Output } from "../lib/cli/output.js";
import { openStore } from "../lib/store/open.js";
import { KEYS, Rig, shellWords } from "./harness.js";

const NOW = "2026-11-22T00:00:00Z";

interface Captured extends Output {
  stdout: string[];
  stderr: string[];
}

function capture(): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (line) => stdout.push(line), err: (line) => stderr.push(line), isTTY: false };
}

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = capture();
  const code = await main(["node", "certwatch", ...args], output);
  return { code, stdout: output.stdout.join("\n"), stderr: output.stderr.join("\n") };
}

describe("certwatch CLI", () => {
  const rig = new Rig(Rig.fleet(120, new Date(NOW)));
  let dir: string;
  let configFile: string;

  beforeAll(async () => {
    await rig.start();
    dir = await mkdtemp(join(tmpdir(), "certwatch-cli-"));
    configFile = join(dir, "certwatch.yml");
    await writeFile(
      configFile,
      `store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }\n${rig.yaml()}`,
    );
  });
  afterAll(async () => {
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 2 naming the key path when a secret is missing", async () => {
    const bad = join(dir, "bad.yml");
    await writeFile(bad, rig.yaml().replace(`, secretKey: ${KEYS.secretKey}`, ""));
    const result = await run("sweep", "--config", bad);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("sources[0].credentials.secretKey: required");
  });

  it("exits 2 for a missing config file, a bad --now, an unknown --source and an unknown option", async () => {
    const missing = await run("sweep", "--config", join(dir, "nope.yml"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no such file; pass --config FILE or set CERTWATCH_CONFIG");
    const badNow = await run("sweep", "--config", configFile, "--now", "yesterday");
    expect(badNow).toMatchObject({ code: 2 });
    expect(badNow.stderr).toContain("--now");
    const badSource = await run("sweep", "--config", configFile, "--source", "nope");
    expect(badSource.code).toBe(2);
    expect(badSource.stderr).toContain("no source named nope");
    expect((await run("sweep", "--frobnicate")).code).toBe(2);
  });

  it("--dry-run prints what would be sent as people read it, sends nothing and creates no store", async () => {
    const result = await run("sweep", "--config", configFile, "--now", NOW, "--dry-run");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("dry run: nothing written, nothing sent");
    expect(result.stdout).toMatch(/would go to ops-slack, ops-mail/);
    // Each receiver's message as it reads (Slack's text, the email's text part), its first 10 alerts, no raw body.
    const slack =
      /WOULD SEND TO ops-slack: (\d+) alerts in 1 message; the first 10, as a message of them reads\n((?: {2}.*\n)+)/;
    const [, alerts, shown] = slack.exec(result.stdout) ?? [];
    expect(shown?.split("\n").filter((line) => line.startsWith("  • [")).length).toBe(10);
    expect(shown).toContain(
      `  ... and ${Number(alerts) - 10} more alerts (--verbose prints every message as sent)`,
    );
    expect(result.stdout).toMatch(
      /WOULD SEND TO ops-mail: \d+ alerts in 1 message; [^\n]*\n {2}certwatch: 10 critical/,
    );
    expect(result.stdout).not.toMatch(/"blocks"|as sent:/);
    expect(rig.slack.attempts).toBe(0);
    expect(rig.smtp.attempts).toBe(0);
    expect(existsSync(join(dir, "store"))).toBe(false);
  });

  it("--dry-run --verbose adds the exact body of every message; --json carries them as previews", async () => {
    const verbose = await run("sweep", "--config", configFile, "--now", NOW, "--dry-run", "--verbose");
    expect(verbose.code).toBe(0);
    expect(verbose.stdout).toMatch(
      / {2}message 1 of 1, as sent:\n {4}\{\n {6}"text": "certwatch: \d+ critical/,
    );
    expect(verbose.stdout).toContain('"type": "header"');
    const json = await run("sweep", "--config", configFile, "--now", NOW, "--dry-run", "--json");
    const previews = JSON.parse(json.stdout).previews as {
      receiver: string;
      alerts: number;
      payloads: string[];
    }[];
    expect(previews.map(({ receiver, payloads }) => ({ receiver, messages: payloads.length }))).toEqual([
      { receiver: "ops-slack", messages: 1 },
      { receiver: "ops-mail", messages: 1 },
    ]);
    const slackBody = JSON.parse(previews[0]?.payloads[0] ?? "{}") as { blocks: unknown[] };
    expect(slackBody.blocks).toHaveLength((previews[0]?.alerts ?? 0) + 2);
    expect(rig.slack.attempts).toBe(0);
  });

  it("sweep --json prints one run summary and exits 0; a rerun sends nothing", async () => {
    const result = await run("sweep", "--config", configFile, "--now", NOW, "--json");
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.sources[0]).toMatchObject({ name: "hw-test", ok: true, objects: 120, calls: 3 });
    expect(summary.alerts.length).toBeGreaterThan(0);
    expect(summary.deliveries).toEqual([
      expect.objectContaining({ receiver: "ops-slack", messages: 1, failed: 0 }),
      expect.objectContaining({ receiver: "ops-mail", messages: 1, failed: 0 }),
    ]);
    const rerun = await run("sweep", "--config", configFile, "--now", "2026-11-22T01:00:00Z");
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain("nothing new since the last sweep");
    expect(rig.slack.posts).toHaveLength(1);
  });

  it("exits 1 when a source fails, naming it, and never prints a secret", async () => {
    rig.scm.injectAlways("5xx");
    const result = await run("sweep", "--config", configFile, "--now", "2026-11-22T02:00:00Z");
    rig.scm.injectAlways(undefined);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/hw-test\s+huawei-scm\s+FAILED ListCertificates failed: HTTP 500/);
    expect(result.stdout).toContain("stored state kept");
    for (const text of [result.stdout, result.stderr]) {
      expect(text).not.toContain(KEYS.secretKey);
      expect(text).not.toContain(rig.slackUrl);
    }
  });

  it("exits 1 when a delivery fails, and delivers what was pending on the next run", async () => {
    const posts = rig.slack.posts.length;
    // Slack answers 500 to the post and to each of the receiver's retries within the run.
    for (let i = 0; i < 4; i++) rig.slack.answerNext(500, "upstream");
    const failing = await run("sweep", "--config", configFile, "--now", "2026-11-30T00:00:00Z");
    // Not a terminal: one plain line per source as it finishes, and nothing else.
    expect(failing.stderr).toMatch(/^hw-test\s+huawei-scm\s+ok\s+120 objects[^\n]*$/);
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/ops-slack\s+0 alerts sent in 0 messages, \d+ kept for retry/);
    expect(rig.slack.posts.length).toBe(posts);
    const retried = await run("sweep", "--config", configFile, "--now", "2026-11-30T01:00:00Z");
    expect(retried.code).toBe(0);
    expect(rig.slack.posts.length).toBe(posts + 1);
  });

  it("validate proves credentials with one call, and exits 1 naming the failure for a wrong secret", async () => {
    const before = rig.scm.stats.requests;
    const ok = await run("validate", "--config", configFile);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/hw-test\s+ok\s+credentials accepted; 120 certificates visible/);
    expect(rig.scm.stats.requests).toBe(before + 1);

    const wrong = join(dir, "wrong.yml");
    await writeFile(wrong, rig.yaml().replace(KEYS.secretKey, "not-the-right-secret"));
    const failed = await run("validate", "--config", wrong);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain("ListCertificates failed: HTTP 401 APIGW.0301");
    expect(failed.stdout).toContain("the credentials were refused");
    expect(failed.stdout).not.toContain("not-the-right-secret");
  });

  it("validate names the host it could not reach and what to check, without blaming the credentials", async () => {
    const closed = createServer();
    await new Promise<void>((listening) => closed.listen(0, "127.0.0.1", listening));
    const { port } = closed.address() as AddressInfo;
    await new Promise((done) => closed.close(done));
    const cases = [
      {
        endpoint: "https://scm.nonexistent.invalid",
        says: "could not reach scm.nonexistent.invalid (its name does not resolve); check the endpoint's host name and this machine's DNS",
      },
      {
        endpoint: `http://127.0.0.1:${port}`,
        says: `could not reach 127.0.0.1:${port} (the connection was refused); check the endpoint's host and port`,
      },
    ];
    for (const { endpoint, says } of cases) {
      const file = join(dir, "unreachable.yml");
      await writeFile(file, rig.yaml().replace(rig.scmUrl, endpoint));
      const result = await run("validate", "--config", file);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/hw-test\s+FAILED ListCertificates: could not reach/);
      expect(result.stdout).toContain(`ListCertificates: ${says}. The credentials were not tried`);
      expect(`${result.stdout}\n${result.stderr}`).not.toMatch(
        /credentials were refused|with their credentials/,
      );
    }
  });

  it("test-notify sends a labelled test message, reports the exact failure, and refuses an unknown receiver", async () => {
    const posts = rig.slack.posts.length;
    const ok = await run("test-notify", "--receiver", "ops-slack", "--config", configFile);
    expect(ok).toMatchObject({ code: 0, stdout: "ops-slack (slack): test message delivered" });
    expect(rig.slack.posts).toHaveLength(posts + 1);
    expect(rig.slack.posts.at(-1)?.body.text).toBe(
      "certwatch test message: This receiver works. No action needed.",
    );
    const mails = rig.smtp.messages.length;
    expect((await run("test-notify", "--receiver", "ops-mail", "--config", configFile)).code).toBe(0);
    expect(rig.smtp.messages.at(mails)?.subject).toBe("[certwatch] certwatch test message");

    rig.slack.answerNext(404, "no_service");
    const refused = await run("test-notify", "--receiver", "ops-slack", "--config", configFile);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "ops-slack (slack): test message NOT delivered: Slack rejected the message: 404 no_service; check the " +
        `webhook URL and that the channel exists. Fix the receiver's settings in ${configFile}, then run ` +
        "test-notify again.",
    );
    // Nothing is retried for a test message: an unreachable Slack says what to do now, not "next run".
    const closed = createServer();
    await new Promise<void>((listening) => closed.listen(0, "127.0.0.1", listening));
    const { port } = closed.address() as AddressInfo;
    await new Promise((done) => closed.close(done));
    const unreachable = join(dir, "unreachable.yml");
    await writeFile(unreachable, rig.yaml().replace(rig.slackUrl, `http://127.0.0.1:${port}/hook`));
    const down = await run("test-notify", "--receiver", "ops-slack", "--config", unreachable);
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(
      "ops-slack (slack): test message NOT delivered: cannot reach Slack (ECONNREFUSED). This may pass (busy, " +
        "rate limited or out of reach): run test-notify again shortly; if it keeps failing, check the receiver's " +
        "address and that this machine can reach it.",
    );
    const unknown = await run("test-notify", "--receiver", "pager", "--config", configFile);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no receiver named pager (receivers: ops-slack, ops-mail)");
  });

  it("a second command on the same embedded store exits 2 saying so; a lock left by a process that is gone is taken over", async () => {
    const store = join(dir, "store");
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
    try {
      await run("report", "--config", configFile);
      await writeFile(join(store, "certwatch.lock"), String(holder.pid));
      const busy = await run("report", "--config", configFile);
      expect(busy.code).toBe(2);
      expect(busy.stderr).toBe(
        `the embedded store at ${store} is in use by another certwatch command (pid ${holder.pid}); ` +
          "wait for it to finish, then run this one again",
      );
    } finally {
      holder.kill();
      await once(holder, "exit");
    }
    const after = await run("report", "--config", configFile);
    expect(after.code).toBe(0);
    expect(existsSync(join(store, "certwatch.lock"))).toBe(false);
  });

  it("demo shows what users receive, then the commands that explore what it stored, each working as printed", async () => {
    const home = await mkdtemp(join(tmpdir(), "certwatch-demo-"));
    const cwd = process.cwd();
    process.chdir(home);
    try {
      const demo = await run("demo");
      expect(demo.code).toBe(0);
      for (const type of [
        "huawei-scm",
        "huawei-identity-center",
        "aliyun-client-certificates",
        "aliyun-deployment-jobs",
        "aliyun-ssl-certificates",
      ]) {
        expect(demo.stdout).toMatch(new RegExp(`${type}\\s+ok\\s+\\d+ objects`));
      }
      expect(demo.stdout).toContain("WHAT THE ON-CALL ENGINEER RECEIVES");
      expect(demo.stdout).toMatch(/A second sweep an hour later found 0 new alerts and sent 0 messages/);
      // One of the demo's sites still serves what SCM has renewed: said in the output, the digest and the report.
      expect(demo.stdout).toMatch(
        /What a site really serves, .*: renewed but not deployed: serves CN=svc-\d+\.example\.com, valid until .* while source hw-scm holds/,
      );
      const email = await readFile(join(home, ".certwatch/demo/email.html"), "utf8");
      expect(email).toContain("<table");
      expect(email).toMatch(/cert-\d{5}/);
      const page = await readFile(join(home, ".certwatch/demo/report.html"), "utf8");
      expect(page).toContain('<table id="inventory">');
      expect(page).toMatch(/<table id="endpoints">.*renewed but not deployed/s);
      expect(email).toContain("renewed but not deployed");

      // The last lines, which CI shows, are the next commands.
      const config = ".certwatch/demo/certwatch.yml";
      const commands = demo.stdout.split("\n").slice(-3);
      const words = commands.map((line) => shellWords(line.replace(/^ {2}npx certwatch /, "")));
      expect(words.map(([command]) => command)).toEqual(["report", "history", "ack"]);
      for (const args of words) expect(args.slice(-2)).toEqual(["--config", config]);
      // The simulators are gone: each command reads what the demo stored.
      const [report, history, ack] = words as [string[], string[], string[]];
      const [name, fingerprint] = [history[1], ack[1]];
      const table = await run(...report);
      expect(table.code).toBe(0);
      expect(table.stdout.split("\n").length).toBeGreaterThan(500);
      expect(table.stdout).toContain(` ${name} `);
      const changes = await run(...history);
      expect(changes.code).toBe(0);
      expect(changes.stdout).toMatch(new RegExp(`^\\S+ {2}\\S+ {2}${name} {2}first seen: `));
      const acked = await run(...ack);
      expect(acked.code).toBe(0);
      expect(acked.stdout).toContain(`acknowledged ${fingerprint} at stage`);
    } finally {
      process.chdir(cwd);
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe("certwatch CLI: echoed secrets, and a renamed receiver", () => {
  const rig = new Rig(Rig.fleet(30, new Date(NOW)));
  let dir: string;
  let configFile: string;
  let token: string;
  const at = (hours: number) => new Date(Date.parse(NOW) + hours * 3_600_000).toISOString();

  beforeAll(async () => {
    await rig.start();
    token = new URL(rig.slackUrl).pathname.split("/").pop() as string;
    dir = await mkdtemp(join(tmpdir(), "certwatch-cli-rename-"));
    configFile = join(dir, "certwatch.yml");
    await writeFile(
      configFile,
      `store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }\n${rig.yaml()}`,
    );
  });
  afterAll(async () => {
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function waitingFor(receiver: string) {
    const opened = await openStore((await loadConfig(configFile)).store, { dryRun: false });
    try {
      return await opened.store.ledger.pendingFor(receiver);
    } finally {
      await opened.close();
    }
  }

  it("sweep --json shows no part of the Slack token when Slack's 404 echoes its path, nor does the ledger keep it", async () => {
    rig.slack.answerNext(404, (path) => `no_service: ${path} (${encodeURIComponent(path)})`);
    const result = await run("sweep", "--config", configFile, "--now", NOW, "--json");
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout);
    const slack = summary.deliveries.find(
      (delivery: { receiver: string }) => delivery.receiver === "ops-slack",
    );
    expect(slack.errors[0]).toMatch(/^Slack rejected the message: 404 no_service/);
    expect(result.stdout).not.toContain(token);
    const waiting = await waitingFor("ops-slack");
    expect(waiting.length).toBeGreaterThan(0);
    for (const entry of waiting) {
      expect(entry.lastError).toMatch(/^Slack rejected the message: 404/);
      expect(entry.lastError).not.toContain(token);
    }
  });

  it("a renamed receiver's waiting alerts fail the run, saying how to move them; reroute moves them, and they are sent once", async () => {
    const waiting = (await waitingFor("ops-slack")).length;
    // The operator renames ops-slack to chat-slack; the webhook is the same.
    await writeFile(
      configFile,
      (await readFile(configFile, "utf8")).replace("name: ops-slack", "name: chat-slack"),
    );
    const json = await run("sweep", "--config", configFile, "--now", at(1), "--json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).orphaned).toEqual([{ receiver: "ops-slack", pending: waiting }]);
    const human = await run("sweep", "--config", configFile, "--now", at(2));
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(
      `${waiting} notifications pending for receiver "ops-slack", which the config no longer names: nothing will ` +
        "send them. Move them to a configured receiver: certwatch reroute --from ops-slack --to RECEIVER",
    );

    const unknown = await run("reroute", "--from", "ops-slack", "--to", "pager", "--config", configFile);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("--to: no receiver named pager");
    const dry = await run(
      "reroute",
      "--from",
      "ops-slack",
      "--to",
      "chat-slack",
      "--dry-run",
      "--config",
      configFile,
    );
    expect(dry).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`would move ${waiting} notifications`),
    });
    expect(await waitingFor("chat-slack")).toEqual([]);

    const moved = await run("reroute", "--from", "ops-slack", "--to", "chat-slack", "--config", configFile);
    expect(moved.code).toBe(0);
    expect(moved.stdout).toContain(`moved ${waiting} notifications from ops-slack to chat-slack`);
    const again = await run("reroute", "--from", "ops-slack", "--to", "chat-slack", "--config", configFile);
    expect(again).toMatchObject({ code: 0, stdout: "nothing waits for ops-slack" });

    const posts = rig.slack.posts.length;
    const delivered = await run("sweep", "--config", configFile, "--now", at(3), "--json");
    expect(delivered.code).toBe(0);
    const summary = JSON.parse(delivered.stdout);
    expect(summary.orphaned).toEqual([]);
    expect(summary.deliveries).toContainEqual(
      expect.objectContaining({ receiver: "chat-slack", sent: waiting, messages: 1 }),
    );
    expect(rig.slack.posts).toHaveLength(posts + 1);
    const sections = rig.slack.posts.at(-1)?.body.blocks?.filter((block) => block.type === "section") ?? [];
    expect(sections).toHaveLength(waiting);
    expect((await run("sweep", "--config", configFile, "--now", at(4))).code).toBe(0);
    expect(rig.slack.posts).toHaveLength(posts + 1);
  });
});
