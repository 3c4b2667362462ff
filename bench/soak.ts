/**
 * `npm run soak [-- --runs N --seed S]`: N sweeps against the simulators with seeded random faults, each run in
 * its own process (the real CLI, or bench/soak/child.ts where a crash is injected), and after each run checks
 * certwatch's promises from outside: what the receivers got and what the store holds. Exits 1 on a broken one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import type { RunSummary } from "../lib/sweep.js";
import { startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { scmFleet, scmTime } from "../sim/fleet.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { type Fault, seededRandom, type SimServer } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { SmtpSink } from "../sim/smtp.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const CHILD = join(HERE, "soak", "child.js");
const CLI = join(ROOT, "bin", "certwatch.js");

const START = new Date("2026-11-22T00:00:00Z");
const STEP_MS = 12 * 3_600_000;
const DAY_MS = 86_400_000;
/** The last runs have no faults, so that "delivered within two runs after the faults stop" can be checked. */
const CLEAN_RUNS = 3;
/** The child's delivery lease: the soak's runs are seconds apart on the wall clock. */
const LEASE_MS = 1_000;
const SECRETS = {
  huaweiSecretKey: "soak-hw-secret-7Qm2Zx9vL",
  aliyunSecretKey: "soak-ali-secret-K4p8Wn3tB",
  smtpPassword: "soak-smtp-pass-R5t1Yv6qD",
  slackWebhookPath: "T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
};
const HUAWEI_AK = "SOAKACCESSKEY0000001";
const ALIYUN_AK = "LTAI5tSOAKACCESSKEY0";
const SLACK = "soak-slack";
const MAIL = "soak-mail";
const RECEIVERS = [SLACK, MAIL] as const;
type ReceiverName = (typeof RECEIVERS)[number];

function parseArgs(argv: string[]): { runs: number; seed: number } {
  const options = { runs: 50, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    if (argv[i] === "--runs" && Number.isInteger(value) && value > 0) options.runs = value;
    else if (argv[i] === "--seed" && Number.isInteger(value)) options.seed = value;
    else continue;
    i++;
  }
  return options;
}

/** What one run suffers. */
interface RunFaults {
  scm?: Fault | "outage";
  cas?: Fault | "outage";
  slack?: "slack-429" | "slack-500";
  smtp?: "smtp-451";
  crash: boolean;
}

const SOURCE_FAULTS: (Fault | "outage")[] = ["5xx", "throttle", "malformed", "bad-json", "hang", "outage"];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function planFaults(random: () => number, faulty: boolean): RunFaults {
  // Every draw is made whether or not the run is faulty, so a seed's plan does not depend on --runs.
  const draws = Array.from({ length: 10 }, () => random());
  const [a = 1, b = 0, c = 1, d = 0, e = 1, f = 0, g = 1, h = 0, i = 1] = draws;
  if (!faulty) return { crash: false };
  return {
    scm: a < 0.35 ? (SOURCE_FAULTS[Math.floor(b * SOURCE_FAULTS.length)] ?? "5xx") : undefined,
    cas: c < 0.3 ? (SOURCE_FAULTS[Math.floor(d * SOURCE_FAULTS.length)] ?? "5xx") : undefined,
    slack: e < 0.3 ? (f < 0.5 ? "slack-429" : "slack-500") : undefined,
    smtp: g < 0.25 ? "smtp-451" : undefined,
    crash: h < 0.2 && i >= 0,
  };
}

function applySourceFault(sim: SimServer, fault: Fault | "outage" | undefined, times: number): void {
  if (fault === "outage") sim.injectAlways("5xx");
  else if (fault) sim.inject(fault, times);
}

/** Leaves a simulator answering normally: queued faults a run did not use must not leak into the next. */
function clearFaults(sim: SimServer): void {
  sim.injectAlways(undefined);
  (sim as unknown as { queued: Fault[] }).queued.length = 0;
}

const unescapeSlack = (text: string) =>
  text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const STALE = / \(source unreachable: as last seen [^)]*\)$/;

/** The alerts of a message, as `name|summary`: what identifies one notification in what a person reads. */
function slackKeys(body: SlackReceiverSim["posts"][number]["body"]): { key: string; resolved: boolean }[] {
  const keys: { key: string; resolved: boolean }[] = [];
  for (const block of body.blocks ?? []) {
    if (block.type !== "section" || !block.text) continue;
    const match = /^(:[a-z_]+:) \*(.+?)\* (.*)$/.exec(block.text.text.split("\n")[0] ?? "");
    if (!match) continue;
    const [, icon, title = "", when = ""] = match;
    keys.push({
      key: `${unescapeSlack(title)}|${unescapeSlack(when).replace(STALE, "")}`,
      resolved: icon === ":white_check_mark:",
    });
  }
  return keys;
}

function mailKeys(text: string): { key: string; resolved: boolean }[] {
  const keys: { key: string; resolved: boolean }[] = [];
  for (const line of text.split("\n")) {
    // Titles have no spaces, but for a source's own alerts ("source hw-scm").
    const match = /^\[(CRITICAL|WARNING|INFO|RESOLVED)\] ((?:source )?\S+) (.*)$/.exec(line);
    if (match)
      keys.push({
        key: `${match[2]}|${(match[3] ?? "").replace(STALE, "")}`,
        resolved: match[1] === "RESOLVED",
      });
  }
  return keys;
}

interface Received {
  run: number;
  keys: { key: string; resolved: boolean }[];
}

class Tally {
  readonly faults = new Map<string, number>();
  readonly checked = new Map<string, number>();
  readonly broken = new Map<string, number>();
  readonly examples: string[] = [];
  fault(kind: string): void {
    this.faults.set(kind, (this.faults.get(kind) ?? 0) + 1);
  }
  check(invariant: string, ok: boolean, example: () => string): void {
    this.checked.set(invariant, (this.checked.get(invariant) ?? 0) + 1);
    if (!this.broken.has(invariant)) this.broken.set(invariant, 0);
    if (ok) return;
    this.broken.set(invariant, (this.broken.get(invariant) ?? 0) + 1);
    if (this.examples.length < 20) this.examples.push(`${invariant}: ${example()}`);
  }
}

const INVARIANTS = [
  "1 due alert delivered within 2 runs after faults stop",
  "2 no notification delivered twice (except in flight at a crash)",
  "3 no resolution without a real fleet change",
  "4 no throttling answer at steady state",
  "5 no secret in output, messages or store",
] as const;

function secretHits(text: string | Buffer): string[] {
  return Object.entries(SECRETS)
    .filter(([, secret]) => text.indexOf(secret) >= 0)
    .map(([name]) => name);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

async function main(): Promise<number> {
  const { runs, seed } = parseArgs(process.argv.slice(2));
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const random = seededRandom(seed);
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), "certwatch-soak-"));
  const storePath = join(dir, "store");

  const certificates = scmFleet({ count: 250, now: START, seed: seed + 41 });
  const scm = scmSimulator({
    certificates,
    credentials: { accessKey: HUAWEI_AK, secretKey: SECRETS.huaweiSecretKey },
    qps: 20,
    // Both clouds take the run's instant for now, as the runs' --now moves it.
    clock: () => (cas.now ?? START).getTime(),
  });
  const cas = new CasSimulator({
    credentials: { accessKey: ALIYUN_AK, secretKey: SECRETS.aliyunSecretKey },
    qps: 10,
    sslCertificates: sslCertificateFleet({ count: 120, now: START, seed: seed + 17 }),
    now: START,
  });
  const slack = new SlackReceiverSim();
  const smtp = new SmtpSink({ user: "certwatch", pass: SECRETS.smtpPassword });
  const [scmUrl, casUrl, slackUrl, smtpPort] = await Promise.all([
    scm.listen(),
    cas.listen(),
    slack.listen(),
    smtp.listen(),
  ]);
  if (!slackUrl.endsWith(SECRETS.slackWebhookPath)) throw new Error(`unexpected Slack URL ${slackUrl}`);
  const configFile = join(dir, "certwatch.yml");
  await writeFile(
    configFile,
    `store: { type: embedded, path: ${JSON.stringify(storePath)} }
sources:
  - name: hw-scm
    type: huawei-scm
    endpoint: "${scmUrl}"
    credentials: { accessKey: ${HUAWEI_AK}, secretKey: ${SECRETS.huaweiSecretKey} }
    region: ap-southeast-1
    timeout: 2s
  - name: ali-ssl
    type: aliyun-ssl-certificates
    endpoint: "${casUrl}"
    credentials: { accessKey: ${ALIYUN_AK}, secretKey: ${SECRETS.aliyunSecretKey} }
    timeout: 2s
receivers:
  - { name: ${SLACK}, type: slack, webhookUrl: "${slackUrl}" }
  - name: ${MAIL}
    type: email
    from: certwatch@soak.local
    to: [oncall@soak.local]
    smtp: { host: 127.0.0.1, port: ${smtpPort}, user: certwatch, pass: ${SECRETS.smtpPassword} }
`,
  );

  // The crash: the Slack receiver tells the soak of each post it accepted, before it answers.
  let onPost: (() => void) | undefined;
  const pushPost = slack.posts.push.bind(slack.posts);
  slack.posts.push = (...items) => {
    const length = pushPost(...items);
    onPost?.();
    return length;
  };

  const tally = new Tally();
  const received: Record<ReceiverName, Received[]> = { [SLACK]: [], [MAIL]: [] };
  /** Per receiver, `name|summary` → the run it first became due. */
  const due: Record<ReceiverName, Map<string, number>> = { [SLACK]: new Map(), [MAIL]: new Map() };
  const deliveryFault: Record<ReceiverName, boolean[]> = { [SLACK]: [], [MAIL]: [] };
  /**
   * Per receiver, how many runs announced `name|summary` as news. The same words can be new news again (a source
   * down a second time, its second recovery): each is its own notification, once.
   */
  const announced: Record<ReceiverName, Map<string, number>> = { [SLACK]: new Map(), [MAIL]: new Map() };
  const announce = (receiver: ReceiverName, keys: Iterable<string>) => {
    for (const key of new Set(keys)) announced[receiver].set(key, (announced[receiver].get(key) ?? 0) + 1);
  };
  /** Keys in the one message per receiver in flight at each crash: the only ones allowed twice. */
  const inFlight: Record<ReceiverName, Map<string, number>> = { [SLACK]: new Map(), [MAIL]: new Map() };
  const renewedAt = new Map<string, number>();
  const fleetNames = new Set(certificates.map((cert) => cert.name));
  const checkedDue = new Set<string>();
  let crashRecovery = false;

  const isDelivered = (receiver: ReceiverName, key: string) =>
    received[receiver].some((message) => message.keys.some((item) => item.key === key));

  const checkDeadlines = (run: number, final: boolean) => {
    for (const receiver of RECEIVERS) {
      for (const [key, dueRun] of due[receiver]) {
        const id = `${receiver}\t${key}`;
        if (checkedDue.has(id)) continue;
        let stop = dueRun;
        while (stop <= run && deliveryFault[receiver][stop]) stop++;
        const deadline = stop + 1;
        if (deadline > run && !final) continue;
        if (deadline > run && final && !isDelivered(receiver, key)) continue; // faults never stopped for it
        checkedDue.add(id);
        tally.check(
          INVARIANTS[0],
          isDelivered(receiver, key),
          () => `${receiver} never got "${key}" (due run ${dueRun}, deadline run ${deadline})`,
        );
      }
    }
  };

  for (let run = 0; run < runs; run++) {
    const now = new Date(START.getTime() + run * STEP_MS);
    cas.now = now;
    const faults = planFaults(random, run < runs - CLEAN_RUNS);
    const times = 1 + Math.floor(random() * 3);
    // Real change: now and then a certificate inside 30 days is renewed; its resolution is expected.
    if (random() < 0.3) {
      const candidates = certificates.filter((cert) => {
        const notAfter = Date.parse(`${cert.expire_time.replace(" ", "T").replace(/\.0$/, "")}+08:00`);
        return (
          cert.status === "ISSUED" && notAfter - now.getTime() < 30 * DAY_MS && !renewedAt.has(cert.name)
        );
      });
      if (candidates.length > 0) {
        const cert = pick(random, candidates);
        cert.expire_time = scmTime(new Date(now.getTime() + 400 * DAY_MS));
        renewedAt.set(cert.name, run);
        tally.fault("(real change) renewal");
      }
    }
    applySourceFault(scm, faults.scm, times);
    applySourceFault(cas, faults.cas, times);
    if (faults.scm) tally.fault(`scm ${faults.scm}`);
    if (faults.cas) tally.fault(`cas ${faults.cas}`);
    if (faults.slack === "slack-429") slack.answerNext(429, "rate_limited", { "retry-after": "1" });
    // Four 500s outlast the receiver's own retries: the message is left pending for the next run.
    if (faults.slack === "slack-500") for (let i = 0; i < 4; i++) slack.answerNext(500, "server_error");
    if (faults.slack) tally.fault(faults.slack);
    if (faults.smtp) for (let i = 0; i < 3; i++) smtp.refuseNext(451, "4.3.0 try again later");
    if (faults.smtp) tally.fault(faults.smtp);

    const throttledBefore = { scm: scm.stats.throttled, cas: cas.stats.throttled };
    const postsBefore = slack.posts.length;
    const mailsBefore = smtp.messages.length;

    // The child is the real CLI, except where a crash is armed or one is being recovered from (short lease).
    const useChild = faults.crash || crashRecovery;
    const args = useChild
      ? [CHILD, configFile, now.toISOString(), String(LEASE_MS)]
      : [CLI, "sweep", "--config", configFile, "--now", now.toISOString(), "--json"];
    const child: ChildProcess = spawn(process.execPath, args, {
      cwd: dir,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    let crashed = false;
    onPost = faults.crash
      ? () => {
          if (crashed) return;
          crashed = true;
          child.kill("SIGKILL");
        }
      : undefined;
    const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const code = await new Promise<number | null>((done) => child.on("close", (status) => done(status)));
    clearTimeout(guard);
    onPost = undefined;
    clearFaults(scm);
    clearFaults(cas);
    (slack as unknown as { script: unknown[] }).script.length = 0;
    (smtp as unknown as { refusals: unknown[] }).refusals.length = 0;
    if (faults.crash) tally.fault(crashed ? "crash between send and mark" : "crash armed, nothing posted");
    crashRecovery = crashed;
    deliveryFault[SLACK][run] = crashed || faults.slack === "slack-500";
    deliveryFault[MAIL][run] = crashed || faults.smtp === "smtp-451";

    // What the receivers got in this run.
    const newPosts = slack.posts.slice(postsBefore).map((post) => ({ run, keys: slackKeys(post.body) }));
    const newMails = smtp.messages.slice(mailsBefore).map((mail) => ({ run, keys: mailKeys(mail.text) }));
    received[SLACK].push(...newPosts);
    received[MAIL].push(...newMails);
    if (crashed) {
      for (const [receiver, messages] of [
        [SLACK, newPosts],
        [MAIL, newMails],
      ] as const) {
        for (const { key } of messages.at(-1)?.keys ?? [])
          inFlight[receiver].set(key, (inFlight[receiver].get(key) ?? 0) + 1);
      }
    }

    // What the run reported (lost with a crashed process) and what the store holds pending: both are due.
    let summary: RunSummary | undefined;
    if (!crashed) {
      try {
        summary = JSON.parse(stdout) as RunSummary;
      } catch {
        throw new Error(`run ${run}: no JSON summary (exit ${code}):\n${stdout}\n${stderr}`);
      }
      for (const receiver of RECEIVERS) {
        const keys = summary.alerts
          .filter((alert) => alert.receivers.includes(receiver))
          .map((alert) => `${alert.name}|${alert.summary}`);
        for (const key of keys) if (!due[receiver].has(key)) due[receiver].set(key, run);
        announce(receiver, keys);
      }
    } else {
      // The crashed run's summary is lost: what it got out before dying counts as its news.
      announce(
        SLACK,
        newPosts.flatMap((message) => message.keys.map((item) => item.key)),
      );
      announce(
        MAIL,
        newMails.flatMap((message) => message.keys.map((item) => item.key)),
      );
    }
    const dynamo = await startEmbeddedDynamo(storePath);
    const store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    try {
      for (const receiver of RECEIVERS) {
        for (const entry of await store.pendingFor(receiver)) {
          const key = `${entry.alert.object.name}|${entry.alert.summary}`;
          if (!due[receiver].has(key)) due[receiver].set(key, run);
        }
      }
    } finally {
      store.close();
      await dynamo.close();
    }

    // 1: every alert whose deadline is this run has reached its receiver.
    checkDeadlines(run, false);

    // 2: no notification twice, but for the one message per receiver in flight at a crash.
    for (const receiver of RECEIVERS) {
      const counts = new Map<string, number>();
      for (const message of received[receiver])
        for (const { key } of message.keys) counts.set(key, (counts.get(key) ?? 0) + 1);
      for (const message of receiver === SLACK ? newPosts : newMails) {
        for (const { key } of message.keys) {
          const count = counts.get(key) ?? 0;
          const allowed = Math.max(1, announced[receiver].get(key) ?? 0) + (inFlight[receiver].get(key) ?? 0);
          tally.check(
            INVARIANTS[1],
            count <= allowed,
            () => `${receiver} got "${key}" ${count} times (run ${run})`,
          );
        }
      }
    }

    // 3: a certificate is resolved only after it really was renewed.
    const resolutions = [
      ...(summary?.alerts ?? [])
        .filter((alert) => alert.transition === "resolved")
        .map((alert) => alert.name),
      ...[...newPosts, ...newMails].flatMap((message) =>
        message.keys.filter((item) => item.resolved).map((item) => item.key.split("|")[0] ?? ""),
      ),
    ];
    for (const name of resolutions) {
      if (!fleetNames.has(name)) continue; // a source's own health alert, resolved by its recovery
      const renewed = renewedAt.get(name);
      tally.check(
        INVARIANTS[2],
        renewed !== undefined && renewed <= run,
        () => `${name} resolved in run ${run} but never renewed`,
      );
    }

    // 4: no simulator answered "throttled" unless throttling was injected.
    for (const [name, sim, fault] of [
      ["scm", scm, faults.scm],
      ["cas", cas, faults.cas],
    ] as const) {
      if (fault === "throttle") continue;
      const throttled = sim.stats.throttled - throttledBefore[name];
      tally.check(
        INVARIANTS[3],
        throttled === 0,
        () => `${name} answered ${throttled} throttling errors in run ${run}`,
      );
    }

    // 5: no secret in what the process printed, what the receivers got, or the store's files.
    tally.check(
      INVARIANTS[4],
      secretHits(stdout + stderr).length === 0,
      () => `run ${run} output shows ${secretHits(stdout + stderr).join(", ")}`,
    );
    for (const post of slack.posts.slice(postsBefore)) {
      const hits = secretHits(JSON.stringify(post.body));
      tally.check(
        INVARIANTS[4],
        hits.length === 0,
        () => `Slack post in run ${run} shows ${hits.join(", ")}`,
      );
    }
    for (const mail of smtp.messages.slice(mailsBefore)) {
      const hits = secretHits(`${mail.subject}\n${mail.text}\n${mail.html}`);
      tally.check(INVARIANTS[4], hits.length === 0, () => `email in run ${run} shows ${hits.join(", ")}`);
    }
    for (const file of await filesUnder(storePath)) {
      const hits = secretHits(await readFile(file));
      tally.check(INVARIANTS[4], hits.length === 0, () => `store file ${file} holds ${hits.join(", ")}`);
    }
    process.stderr.write(
      `run ${String(run + 1).padStart(3)}/${runs} ${now.toISOString().slice(0, 16)} exit ${code ?? "killed"}` +
        ` faults: ${[faults.scm && `scm ${faults.scm}`, faults.cas && `cas ${faults.cas}`, faults.slack, faults.smtp, faults.crash && (crashed ? "crash" : "crash (no post)")].filter(Boolean).join(", ") || "none"}\n`,
    );
    if (crashed) await sleep(LEASE_MS + 200);
  }
  checkDeadlines(runs - 1, true);

  // The store exported whole (decompressed, unlike its files): no secret, and nothing left undelivered.
  const dynamo = await startEmbeddedDynamo(storePath);
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: "local",
    credentials: { accessKeyId: "soak", secretAccessKey: "soak" },
  });
  try {
    let startKey: Record<string, unknown> | undefined;
    let exported = "";
    do {
      const page = await client.send(
        new ScanCommand({ TableName: "certwatch", ExclusiveStartKey: startKey as never }),
      );
      exported += JSON.stringify(page.Items ?? []);
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    const hits = secretHits(exported);
    tally.check(INVARIANTS[4], hits.length === 0, () => `store export holds ${hits.join(", ")}`);
  } finally {
    client.destroy();
    await dynamo.close();
  }

  await Promise.all([scm.close(), cas.close(), slack.close(), smtp.close()]);
  await rm(dir, { recursive: true, force: true });

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `soak: ${runs} runs, seed ${seed}, ${seconds}s (last ${Math.min(CLEAN_RUNS, runs)} runs without faults)`,
  );
  out(
    `messages: ${received[SLACK].length} Slack posts, ${received[MAIL].length} emails; due notifications: ${due[SLACK].size} Slack, ${due[MAIL].size} email`,
  );
  out("faults injected (runs):");
  for (const [kind, count] of [...tally.faults].sort()) out(`  ${kind.padEnd(32)} ${count}`);
  out("invariants (checks / broken):");
  for (const invariant of INVARIANTS)
    out(
      `  ${invariant.padEnd(66)} ${String(tally.checked.get(invariant) ?? 0).padStart(6)} / ${tally.broken.get(invariant) ?? 0}`,
    );
  for (const example of tally.examples) out(`  BROKEN ${example}`);
  const broken = [...tally.broken.values()].reduce((sum, count) => sum + count, 0);
  out(broken === 0 ? "soak: every invariant held" : `soak: ${broken} broken invariant checks`);
  return broken === 0 ? 0 : 1;
}

process.exitCode = await main();
