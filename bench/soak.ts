/**
 * `npm run soak [-- --runs N --seed S]`: N sweeps of five sources against the simulators with seeded random faults,
 * each run in its own process (the real CLI, or bench/soak/child.ts where a crash is injected), and after each run
 * checks certwatch's promises from outside: what the receivers got and what the store holds. Exits 1 on a broken one.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { latestRunOf, type RecordedRun } from "../lib/run-order.js";
import type { RunSummary } from "../lib/sweep.js";
import { startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { scmTime } from "../sim/fleet.js";
import { type Fault, observeExchanges, seededRandom, type SimServer } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { SmtpSink } from "../sim/smtp.js";
import { LOOK_UP_SOURCES, SOURCES, type SourceName, World, type WorldObject } from "./soak/world.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const CHILD = join(HERE, "soak", "child.js");
const CLI = join(ROOT, "bin", "certwatch.js");

/** In the past: the CLI refuses to record a --now ahead of the wall clock, and 50 runs cover 25 days. */
const START = new Date("2026-01-05T00:00:00Z");
const STEP_MS = 12 * 3_600_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** The last runs have no faults, so that "delivered within two runs after the faults stop" can be checked. */
const CLEAN_RUNS = 3;
/** The child's delivery lease: the soak's runs are seconds apart on the wall clock. */
const LEASE_MS = 1_000;
const SLACK_WEBHOOK_PATH = "T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX";
const SECRETS = {
  huaweiSecretKey: "soak-hw-secret-7Qm2Zx9vL",
  aliyunSecretKey: "soak-ali-secret-K4p8Wn3tB",
  smtpPassword: "soak-smtp-pass-R5t1Yv6qD",
  slackWebhookPath: SLACK_WEBHOOK_PATH,
  // The path's last segment is the token: echoed alone, percent-encoded or JSON-escaped, it is still this.
  slackWebhookToken: SLACK_WEBHOOK_PATH.split("/").at(-1) as string,
};
const HUAWEI_AK = "SOAKACCESSKEY0000001";
const ALIYUN_AK = "LTAI5tSOAKACCESSKEY0";
const SLACK = "soak-slack";
const MAIL = "soak-mail";
const RECEIVERS = [SLACK, MAIL] as const;
type ReceiverName = (typeof RECEIVERS)[number];
const ALL_SOURCES = Object.values(SOURCES);

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

type SourceFault = Fault | "outage";
const SOURCE_FAULTS: SourceFault[] = ["5xx", "throttle", "malformed", "bad-json", "hang", "outage"];
const SLACK_FAULTS = [
  "slack-429",
  "slack-500",
  "slack-404 echoing the path",
  "slack-400 echoing the URL encoded",
] as const;
type SlackFault = (typeof SLACK_FAULTS)[number];

/** What one run suffers, and the real changes made before it. Fractions (0..1) pick among what exists then. */
interface RunPlan {
  scm?: SourceFault;
  ic?: SourceFault;
  cas?: SourceFault;
  /** How many requests a queued source fault takes. */
  times: number;
  slack?: SlackFault;
  smtp?: "smtp-451";
  crash: boolean;
  /** An SCM certificate inside 30 days is renewed. */
  renewal?: number;
  /** Per source, an alerting object is taken out of its fleet for `runs` runs, then put back unchanged. */
  reappear?: { object: number; runs: number }[];
  /** Certificates of SCM's first page deleted while the walk goes on (and as many added at the end). */
  churn?: number[];
  /** The run's instant is this far behind the latest run: within the skew certwatch tolerates. */
  skewMs?: number;
  /** After the run, one from this many hours before the latest is attempted, and the same as a dry run. */
  pastHours?: number;
}

function planRun(random: () => number, faulty: boolean): RunPlan {
  // Every draw is made whether or not the run is faulty, so a seed's plan does not depend on --runs.
  const draws = Array.from({ length: 40 }, () => random());
  let next = 0;
  const roll = () => {
    if (next >= draws.length) throw new Error("planRun needs more draws per run");
    return draws[next++] as number;
  };
  const pick = <T>(items: readonly T[]) => items[Math.floor(roll() * items.length)] as T;
  /** `value` is drawn whether or not it is used, so that each decision takes the same draws every time. */
  const maybe = <T>(chance: number, value: () => T): T | undefined => {
    const hit = roll() < chance;
    const drawn = value();
    return hit ? drawn : undefined;
  };
  const plan: RunPlan = {
    renewal: maybe(0.3, roll),
    scm: maybe(0.3, () => pick(SOURCE_FAULTS)),
    ic: maybe(0.2, () => pick(SOURCE_FAULTS)),
    cas: maybe(0.3, () => pick(SOURCE_FAULTS)),
    times: 1 + Math.floor(roll() * 3),
    slack: maybe(0.6, () => pick(SLACK_FAULTS)),
    smtp: maybe(0.25, () => "smtp-451" as const),
    crash: roll() < 0.2,
    reappear: maybe(0.35, () => ALL_SOURCES.map(() => ({ object: roll(), runs: roll() < 0.5 ? 1 : 2 }))),
    churn: maybe(0.3, () => [roll(), roll(), roll()].slice(0, 1 + Math.floor(roll() * 3))),
    skewMs: maybe(0.3, () => 1_000 + Math.floor(roll() * 59_000)),
    pastHours: maybe(0.15, () => 1 + Math.floor(roll() * 48)),
  };
  // A crash is armed on Slack's first accepted post: a run that refuses every post would never reach it.
  if (plan.crash && plan.slack !== "slack-429") plan.slack = undefined;
  return faulty ? plan : { times: 1, crash: false, renewal: plan.renewal };
}

function applySourceFault(sim: SimServer, fault: SourceFault | undefined, times: number): void {
  if (fault === "outage") sim.injectAlways("5xx");
  else if (fault) sim.inject(fault, times);
}

/** Leaves a simulator answering normally: queued faults a run did not use must not leak into the next. */
function clearFaults(sim: SimServer): void {
  sim.injectAlways(undefined);
  (sim as unknown as { queued: Fault[] }).queued.length = 0;
}

/** Full-width look-alikes back to the characters they stand for: Slack shows markup characters as those. */
const plainChars = (text: string) =>
  text.replace(/[\uff01-\uff5e]/g, (char) => String.fromCharCode(char.charCodeAt(0) - 0xfee0));
const unescapeSlack = (text: string) =>
  text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const unescapeHtml = (text: string) =>
  text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
const STALE = / \(source unreachable: as last seen [^)]*\)$/;

/** One alert as a person reads it: `name|summary` identifies one notification. */
interface ReadAlert {
  name: string;
  key: string;
  resolved: boolean;
}

const readAlert = (name: string, when: string, resolved: boolean): ReadAlert => {
  const plainName = plainChars(name);
  return { name: plainName, key: `${plainName}|${plainChars(when).replace(STALE, "")}`, resolved };
};

function slackAlerts(body: SlackReceiverSim["posts"][number]["body"]): ReadAlert[] {
  const alerts: ReadAlert[] = [];
  for (const block of body.blocks ?? []) {
    if (block.type !== "section" || !block.text) continue;
    const match = /^(:[a-z_]+:) \*(.+?)\* (.*)$/.exec(block.text.text.split("\n")[0] ?? "");
    if (!match) continue;
    const [, icon, title = "", when = ""] = match;
    alerts.push(readAlert(unescapeSlack(title), unescapeSlack(when), icon === ":white_check_mark:"));
  }
  return alerts;
}

/** From the HTML part: its table keeps a name with spaces apart from what happened to it. */
const MAIL_ROW =
  /<tr>\s*<td[^>]*>([^<]*)<\/td>\s*<td[^>]*><strong>([^<]*)<\/strong>[\s\S]*?<\/td>\s*<td[^>]*>([^<]*)<br>/g;

function mailAlerts(html: string): ReadAlert[] {
  return [...html.matchAll(MAIL_ROW)].map(([, label = "", title = "", when = ""]) =>
    readAlert(unescapeHtml(title), unescapeHtml(when), label.trim().toLowerCase() === "resolved"),
  );
}

interface Received {
  run: number;
  alerts: ReadAlert[];
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
  "3 no resolution without a real change, confirmed if a removal",
  "4 no throttling answer at steady state",
  "5 no secret in output, messages or store",
  "6 a returning object is announced again iff it had gone",
  "7 a run from the past is refused and changes nothing",
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

/** Every item of the store, as JSON: decompressed, unlike its files. */
async function exportStore(storePath: string): Promise<string> {
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
    return exported;
  } finally {
    client.destroy();
    await dynamo.close();
  }
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One certwatch process; `armCrash` receives the function that kills it. */
async function runProcess(
  args: string[],
  cwd: string,
  armCrash?: (kill: () => void) => void,
): Promise<Finished> {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  armCrash?.(() => child.kill("SIGKILL"));
  const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const code = await new Promise<number | null>((done) => child.on("close", (status) => done(status)));
  clearTimeout(guard);
  return { code, stdout, stderr };
}

/** An object taken out of its fleet: from the first listing without it until the first one with it again. */
interface Removal {
  object: WorldObject;
  from: number;
  until: number;
}

/** An alerting object taken away and put back; tracked until its second announcement is checked. */
interface Return {
  object: WorldObject;
  back: number;
  /** The first run after which the store held it as gone. */
  goneAt?: number;
  /** The first run, from `back` on, after which it no longer was: certwatch saw it again. */
  seenAgainAt?: number;
  checked: Set<ReceiverName>;
}

async function main(): Promise<number> {
  const { runs, seed } = parseArgs(process.argv.slice(2));
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const random = seededRandom(seed);
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), "certwatch-soak-"));
  const storePath = join(dir, "store");

  const world = new World({
    seed,
    start: START,
    huawei: { accessKey: HUAWEI_AK, secretKey: SECRETS.huaweiSecretKey },
    aliyun: { accessKey: ALIYUN_AK, secretKey: SECRETS.aliyunSecretKey },
  });
  const slack = new SlackReceiverSim();
  const smtp = new SmtpSink({ user: "certwatch", pass: SECRETS.smtpPassword });
  const [urls, slackUrl, smtpPort] = await Promise.all([world.listen(), slack.listen(), smtp.listen()]);
  if (!slackUrl.endsWith(SLACK_WEBHOOK_PATH)) throw new Error(`unexpected Slack URL ${slackUrl}`);
  const slackPath = new URL(slackUrl).pathname;
  const huawei = `credentials: { accessKey: ${HUAWEI_AK}, secretKey: ${SECRETS.huaweiSecretKey} }`;
  const aliyun = `credentials: { accessKey: ${ALIYUN_AK}, secretKey: ${SECRETS.aliyunSecretKey} }`;
  const configFile = join(dir, "certwatch.yml");
  await writeFile(
    configFile,
    `store: { type: embedded, path: ${JSON.stringify(storePath)} }
sources:
  - name: ${SOURCES.scm}
    type: huawei-scm
    endpoint: "${urls.scm}"
    ${huawei}
    region: ap-southeast-1
    qps: 20
    timeout: 2s
  - name: ${SOURCES.sso}
    type: huawei-identity-center
    endpoint: "${urls.ic}"
    ${huawei}
    instanceId: ${world.identityCenter.instanceId}
    qps: 20
    timeout: 2s
  - name: ${SOURCES.ssl}
    type: aliyun-ssl-certificates
    endpoint: "${urls.cas}"
    ${aliyun}
    timeout: 2s
  - name: ${SOURCES.pki}
    type: aliyun-client-certificates
    endpoint: "${urls.cas}"
    ${aliyun}
    timeout: 2s
  - name: ${SOURCES.deploy}
    type: aliyun-deployment-jobs
    endpoint: "${urls.cas}"
    ${aliyun}
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
  const removals: Removal[] = [];
  const returns: Return[] = [];
  /** Fleet entries a real change touched: each gets one, so that its checks stay apart. */
  const touched = new Set<object>();
  /** Keys of the objects the store held as alerting (and not missing) after the last run. */
  let alerting = new Set<string>();
  /** Per source and run: could its listing have been complete (ok, settled)? A crashed run's could. */
  const completeListing = Object.fromEntries(ALL_SOURCES.map((name) => [name, [] as boolean[]])) as Record<
    SourceName,
    boolean[]
  >;
  /** Per name, the run of its last announcement as new, and whether the store has held it as gone since. */
  const lastNew = new Map<string, number>();
  const goneSinceNew = new Set<string>();
  const checkedDue = new Set<string>();
  let crashRecovery = false;
  let latest: RecordedRun | undefined;
  /** What the churn deleted during this run, once SCM served the first page. */
  let churnDeleted: WorldObject[] = [];
  /** Per run, what puts the objects taken away back in their fleets before it. */
  const restores = new Map<number, (() => void)[]>();

  const deadlineOf = (receiver: ReceiverName, dueRun: number) => {
    let stop = dueRun;
    while (deliveryFault[receiver][stop]) stop++;
    return stop + 1;
  };
  const isDelivered = (receiver: ReceiverName, key: string) =>
    received[receiver].some((message) => message.alerts.some((item) => item.key === key));

  const checkDeadlines = (run: number, final: boolean) => {
    for (const receiver of RECEIVERS) {
      for (const [key, dueRun] of due[receiver]) {
        const id = `${receiver}\t${key}`;
        if (checkedDue.has(id)) continue;
        const deadline = deadlineOf(receiver, dueRun);
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

  /** 6: an object seen again after it had gone got a new alert, within invariant 1's deadlines. */
  const checkReturns = (run: number, final: boolean) => {
    for (const item of returns) {
      if (item.seenAgainAt === undefined) continue;
      const since = item.seenAgainAt;
      for (const receiver of RECEIVERS) {
        if (item.checked.has(receiver)) continue;
        const deadline = deadlineOf(receiver, since);
        const announcedAgain = received[receiver].some(
          (message) =>
            message.run >= since &&
            message.run <= deadline &&
            message.alerts.some((alert) => alert.name === item.object.name && !alert.resolved),
        );
        if (deadline > run && !(final && announcedAgain)) continue;
        item.checked.add(receiver);
        tally.check(
          INVARIANTS[5],
          announcedAgain,
          () =>
            `${receiver} got no new alert for ${item.object.name}, back in run ${item.back} after it had gone in run ${item.goneAt} (seen again in run ${since}, deadline run ${deadline})`,
        );
      }
    }
  };

  /**
   * 3: a removal justifies a resolution once a look-up, or else a second listing, could have confirmed it while the
   * object was away. A run's own decision must fall in that time; a message may carry an earlier run's.
   */
  const confirmedRemoval = (object: WorldObject, run: number, decidedNow: boolean) =>
    removals.some((removal) => {
      if (removal.object !== object || removal.from > run || (decidedNow && run >= removal.until))
        return false;
      let listings = 0;
      for (let r = removal.from; r <= Math.min(run, removal.until - 1); r++)
        if (completeListing[object.source][r]) listings++;
      return listings >= (LOOK_UP_SOURCES.has(object.source) ? 1 : 2);
    });
  const sourceNames = new Set(ALL_SOURCES.map((name) => `source ${name}`));

  /** 5: nothing a certwatch process printed shows a secret. */
  const checkOutput = (what: string, output: Finished) => {
    const hits = secretHits(output.stdout + output.stderr);
    tally.check(INVARIANTS[4], hits.length === 0, () => `${what} output shows ${hits.join(", ")}`);
  };

  /** 7: a run from before the latest is refused, naming that run, and touches nothing; a dry run may look. */
  const tryThePast = async (instant: Date, latestRun: RecordedRun) => {
    const past = instant.toISOString();
    const before = await exportStore(storePath);
    const counts = () => ({
      slack: slack.attempts,
      smtp: smtp.attempts,
      requests: world.scm.stats.requests + world.ic.stats.requests + world.cas.stats.requests,
    });
    const counted = counts();
    const refused = await runProcess([CLI, "sweep", "--config", configFile, "--now", past, "--json"], dir);
    checkOutput(`the run at ${past}`, refused);
    const afterRefusal = counts();
    tally.check(
      INVARIANTS[6],
      refused.code === 2 && refused.stderr.includes(latestRun.runId) && refused.stdout.trim() === "",
      () =>
        `run at ${past} after ${latestRun.runId} at ${latestRun.at}: exit ${refused.code}, ${refused.stderr.trim()}`,
    );
    tally.check(
      INVARIANTS[6],
      JSON.stringify(afterRefusal) === JSON.stringify(counted),
      () => `refused run at ${past} called or sent: ${JSON.stringify({ counted, afterRefusal })}`,
    );
    tally.check(
      INVARIANTS[6],
      (await exportStore(storePath)) === before,
      () => `refused run at ${past} changed the store`,
    );

    const dry = await runProcess(
      [CLI, "sweep", "--config", configFile, "--now", past, "--dry-run", "--json"],
      dir,
    );
    checkOutput(`the dry run at ${past}`, dry);
    const afterDryRun = counts();
    let dryRun = false;
    try {
      dryRun = (JSON.parse(dry.stdout) as RunSummary).dryRun;
    } catch {
      // No summary: the check below says so.
    }
    tally.check(
      INVARIANTS[6],
      dry.code !== 2 && dryRun && afterDryRun.slack === counted.slack && afterDryRun.smtp === counted.smtp,
      () =>
        `dry run at ${past}: exit ${dry.code}, sent ${afterDryRun.slack - counted.slack} Slack, ${afterDryRun.smtp - counted.smtp} email; ${dry.stderr.trim()}`,
    );
    tally.check(
      INVARIANTS[6],
      (await exportStore(storePath)) === before,
      () => `dry run at ${past} changed the store`,
    );
  };

  /** Throttling answers per vendor API that no fault asked for: the gateway's 429, CAS's Throttling codes. */
  const throttled = new Map<string, number>();
  const stopCounting = observeExchanges(({ service, answer, deliberate }) => {
    const code = (answer.body as { Code?: unknown } | undefined)?.Code;
    if (!deliberate && (answer.status === 429 || (typeof code === "string" && code.startsWith("Throttling"))))
      throttled.set(service, (throttled.get(service) ?? 0) + 1);
  });
  let stopChurn: (() => void) | undefined;
  for (let run = 0; run < runs; run++) {
    const plan = planRun(random, run < runs - CLEAN_RUNS);
    const skewed = plan.skewMs !== undefined && latest !== undefined;
    const now =
      plan.skewMs !== undefined && latest
        ? new Date(Date.parse(latest.at) - plan.skewMs)
        : new Date(START.getTime() + run * STEP_MS);
    world.now = now;
    for (const restore of restores.get(run) ?? []) restore();

    // Real change: now and then a certificate inside 30 days is renewed; its resolution is expected.
    if (plan.renewal !== undefined) {
      const candidates = world.scmCertificates.filter((cert) => {
        const notAfter = Date.parse(`${cert.expire_time.replace(" ", "T").replace(/\.0$/, "")}+08:00`);
        return cert.status === "ISSUED" && notAfter - now.getTime() < 30 * DAY_MS && !touched.has(cert);
      });
      const cert = candidates[Math.floor(plan.renewal * candidates.length)];
      if (cert) {
        cert.expire_time = scmTime(new Date(now.getTime() + 400 * DAY_MS));
        renewedAt.set(cert.name, run);
        touched.add(cert);
        tally.fault("(real change) renewal");
      }
    }
    // Real change: in each source, an alerting object leaves its fleet for a run or two and comes back as it was.
    for (const [index, away] of (plan.reappear ?? []).entries()) {
      const source = ALL_SOURCES[index];
      const candidates = [...world.byName.values()].filter(
        (object) =>
          object.source === source &&
          alerting.has(object.key) &&
          !touched.has(object.record) &&
          world.isListed(object),
      );
      const chosen = candidates[Math.floor(away.object * candidates.length)];
      if (!chosen) continue;
      const back = run + away.runs;
      restores.set(back, [...(restores.get(back) ?? []), world.remove(chosen)]);
      touched.add(chosen.record);
      for (const object of world.objectsOf(chosen.record)) {
        removals.push({ object, from: run, until: back });
        if (alerting.has(object.key)) returns.push({ object, back, checked: new Set() });
      }
      tally.fault(`(real change) ${source} object away ${away.runs} run(s)`);
    }
    if (plan.churn) {
      stopChurn = world.churnAfterFirstPage(
        plan.churn,
        (object) => touched.has(object.record),
        (deleted) => (churnDeleted = deleted),
      );
    }
    applySourceFault(world.scm, plan.scm, plan.times);
    applySourceFault(world.ic, plan.ic, plan.times);
    applySourceFault(world.cas, plan.cas, plan.times);
    if (plan.scm) tally.fault(`scm ${plan.scm}`);
    if (plan.ic) tally.fault(`identity center ${plan.ic}`);
    if (plan.cas) tally.fault(`cas ${plan.cas}`);
    if (plan.slack === "slack-429") slack.answerNext(429, "rate_limited", { "retry-after": "1" });
    // Four 500s outlast the receiver's own retries: the message is left pending for the next run.
    if (plan.slack === "slack-500") for (let i = 0; i < 4; i++) slack.answerNext(500, "server_error");
    // Refusals that quote the webhook's path back, as is and percent-encoded: the token must go no further.
    if (plan.slack === "slack-404 echoing the path") slack.answerNext(404, `no_service ${slackPath}`);
    if (plan.slack === "slack-400 echoing the URL encoded")
      slack.answerNext(400, `invalid_token: ${encodeURIComponent(slackUrl)}`);
    if (plan.smtp) for (let i = 0; i < 3; i++) smtp.refuseNext(451, "4.3.0 try again later");
    if (plan.smtp) tally.fault(plan.smtp);
    if (skewed) tally.fault("clock skew within 2 minutes");

    const throttledBefore = new Map(throttled);
    const postsBefore = slack.posts.length;
    const mailsBefore = smtp.messages.length;

    // The child is the real CLI, except where a crash is armed or one is being recovered from (short lease).
    const useChild = plan.crash || crashRecovery;
    let crashed = false;
    const { code, stdout, stderr } = await runProcess(
      useChild
        ? [CHILD, configFile, now.toISOString(), String(LEASE_MS)]
        : [CLI, "sweep", "--config", configFile, "--now", now.toISOString(), "--json"],
      dir,
      plan.crash
        ? (kill) => {
            onPost = () => {
              if (crashed) return;
              crashed = true;
              kill();
            };
          }
        : undefined,
    );
    onPost = undefined;
    stopChurn?.();
    stopChurn = undefined;
    clearFaults(world.scm);
    clearFaults(world.ic);
    clearFaults(world.cas);
    // A scripted answer left over was never given: the run had nothing to send to Slack.
    const slackScript = (slack as unknown as { script: unknown[] }).script;
    if (plan.slack) tally.fault(slackScript.length > 0 ? `${plan.slack} (nothing sent)` : plan.slack);
    slackScript.length = 0;
    (smtp as unknown as { refusals: unknown[] }).refusals.length = 0;
    if (plan.crash) tally.fault(crashed ? "crash between send and mark" : "crash armed, nothing posted");
    crashRecovery = crashed;
    deliveryFault[SLACK][run] = crashed || (plan.slack !== undefined && plan.slack !== "slack-429");
    deliveryFault[MAIL][run] = crashed || plan.smtp === "smtp-451";
    if (churnDeleted.length > 0) {
      tally.fault("scm churn while paged");
      // Deleted after the first page served them: the next listing is the first without them.
      for (const object of churnDeleted) {
        touched.add(object.record);
        removals.push({ object, from: run + 1, until: Number.POSITIVE_INFINITY });
      }
      churnDeleted = [];
    }

    // What the receivers got in this run.
    const newMessages: Record<ReceiverName, Received[]> = {
      [SLACK]: slack.posts.slice(postsBefore).map((post) => ({ run, alerts: slackAlerts(post.body) })),
      [MAIL]: smtp.messages.slice(mailsBefore).map((mail) => ({ run, alerts: mailAlerts(mail.html) })),
    };
    for (const receiver of RECEIVERS) {
      received[receiver].push(...newMessages[receiver]);
      if (!crashed) continue;
      for (const { key } of newMessages[receiver].at(-1)?.alerts ?? [])
        inFlight[receiver].set(key, (inFlight[receiver].get(key) ?? 0) + 1);
    }

    // 7: skew within two minutes of the latest run is tolerated: the run goes ahead.
    if (skewed)
      tally.check(
        INVARIANTS[6],
        code !== 2,
        () => `run ${run}, ${plan.skewMs} ms behind the latest, refused: ${stderr}`,
      );

    // What the run reported (lost with a crashed process) and what the store holds pending: both are due.
    if (code === 2 && !skewed) throw new Error(`run ${run} refused (exit 2):\n${stderr}`);
    let summary: RunSummary | undefined;
    if (!crashed && code !== 2) {
      try {
        summary = JSON.parse(stdout) as RunSummary;
      } catch {
        throw new Error(`run ${run}: no JSON summary (exit ${code}):\n${stdout}\n${stderr}`);
      }
    }
    const goneKeys = new Set<string>();
    /** Per receiver, what the run recorded in the ledger and has not delivered: with a crash, its only trace. */
    const recordedNow: Record<ReceiverName, ReadAlert[]> = { [SLACK]: [], [MAIL]: [] };
    const dynamo = await startEmbeddedDynamo(storePath);
    const store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    try {
      for (const receiver of RECEIVERS) {
        for (const entry of await store.ledger.pendingFor(receiver)) {
          const alert = readAlert(
            entry.alert.object.name,
            entry.alert.summary,
            entry.alert.transition === "resolved",
          );
          if (!due[receiver].has(alert.key)) due[receiver].set(alert.key, run);
          if (entry.createdAt === now.toISOString()) recordedNow[receiver].push(alert);
        }
      }
      alerting = new Set();
      for (const name of ALL_SOURCES) {
        for (const key of (await store.loadGone(name)).keys()) goneKeys.add(key);
        for (const [key, object] of await store.loadObjects(name))
          if (Object.keys(object.alerts).length > 0 && !object.missingSince) alerting.add(key);
      }
      latest = latestRunOf(await store.lastSweep(SOURCES.scm)) ?? latest;
    } finally {
      store.close();
      await dynamo.close();
    }
    // The run's news: as it reported it, or else what it recorded and what it got out before dying.
    for (const receiver of RECEIVERS) {
      const news = summary
        ? summary.alerts
            .filter((alert) => alert.receivers.includes(receiver))
            .map((alert) => readAlert(alert.name, alert.summary, alert.transition === "resolved"))
        : [...recordedNow[receiver], ...newMessages[receiver].flatMap((message) => message.alerts)];
      for (const { name, key } of news) {
        if (!sourceNames.has(name) && !world.byName.has(name))
          throw new Error(
            `run ${run}: certwatch reported ${name}, an object bench/soak/world.ts does not know`,
          );
        if (!due[receiver].has(key)) due[receiver].set(key, run);
      }
      announce(
        receiver,
        news.map((alert) => alert.key),
      );
    }
    for (const name of ALL_SOURCES) {
      const report = summary?.sources.find((source) => source.name === name);
      completeListing[name][run] = summary
        ? !!report?.ok && !report.warnings.some((warning) => warning.includes("taken as missing"))
        : true;
    }

    // 1: every alert whose deadline is this run has reached its receiver.
    checkDeadlines(run, false);

    // 2: no notification twice, but for the one message per receiver in flight at a crash.
    for (const receiver of RECEIVERS) {
      const counts = new Map<string, number>();
      for (const message of received[receiver])
        for (const { key } of message.alerts) counts.set(key, (counts.get(key) ?? 0) + 1);
      for (const message of newMessages[receiver]) {
        for (const { key } of message.alerts) {
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

    // 3: an object is resolved only after it really was renewed, or removed and that could be confirmed.
    const decided = (summary?.alerts ?? [])
      .filter((alert) => alert.transition === "resolved")
      .map((alert) => ({ name: plainChars(alert.name), decidedNow: true }));
    const delivered = RECEIVERS.flatMap((receiver) => newMessages[receiver]).flatMap((message) =>
      message.alerts
        .filter((alert) => alert.resolved)
        .map((alert) => ({ name: alert.name, decidedNow: false })),
    );
    for (const { name, decidedNow } of [...decided, ...delivered]) {
      if (sourceNames.has(name)) continue; // a source's own health alert, resolved by its recovery
      const object = world.byName.get(name);
      const renewed = renewedAt.get(name);
      tally.check(
        INVARIANTS[2],
        (renewed !== undefined && renewed <= run) || (!!object && confirmedRemoval(object, run, decidedNow)),
        () =>
          `${name} resolved in run ${run}${decidedNow ? "" : " (message)"} without a renewal or a confirmable removal`,
      );
    }

    // 4: no simulator throttled a call of its own accord, unless throttling was injected (and retried).
    for (const [service, fault] of [
      ["huawei.scm", plan.scm],
      ["huawei.identitycenter", plan.ic],
      ["aliyun.cas", plan.cas],
    ] as const) {
      if (fault === "throttle") continue;
      const count = (throttled.get(service) ?? 0) - (throttledBefore.get(service) ?? 0);
      tally.check(
        INVARIANTS[3],
        count === 0,
        () => `${service} answered ${count} throttling errors in run ${run}`,
      );
    }

    // 5: no secret in what the process printed, what the receivers got, or the store's files.
    checkOutput(`run ${run}`, { code, stdout, stderr });
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

    // 6: an object announced as new a second time must have gone in between; one that had gone and is seen again
    // must be announced again.
    for (const alert of summary?.alerts ?? []) {
      const name = plainChars(alert.name);
      if (alert.transition !== "new" || sourceNames.has(name)) continue;
      const before = lastNew.get(name);
      if (before !== undefined)
        tally.check(
          INVARIANTS[5],
          goneSinceNew.has(name),
          () => `${name} announced as new in run ${run} again (first in run ${before}) though it never went`,
        );
      lastNew.set(name, run);
      goneSinceNew.delete(name);
    }
    for (const object of world.byName.values()) if (goneKeys.has(object.key)) goneSinceNew.add(object.name);
    for (const item of returns) {
      const gone = goneKeys.has(item.object.key);
      if (item.goneAt === undefined && run < item.back && gone) item.goneAt = run;
      if (item.goneAt !== undefined && item.seenAgainAt === undefined && run >= item.back && !gone)
        item.seenAgainAt = run;
    }
    checkReturns(run, false);

    if (plan.pastHours !== undefined && latest) {
      tally.fault("run from the past (and its dry run)");
      await tryThePast(new Date(Date.parse(latest.at) - plan.pastHours * HOUR_MS), latest);
    }

    process.stderr.write(
      `run ${String(run + 1).padStart(3)}/${runs} ${now.toISOString().slice(0, 19)} exit ${code ?? "killed"}` +
        ` faults: ${
          [
            plan.scm && `scm ${plan.scm}`,
            plan.ic && `ic ${plan.ic}`,
            plan.cas && `cas ${plan.cas}`,
            plan.slack,
            plan.smtp,
            plan.crash && (crashed ? "crash" : "crash (no post)"),
            skewed && "skew",
            plan.churn && "churn",
            plan.reappear && "away",
            plan.pastHours !== undefined && "past run",
          ]
            .filter(Boolean)
            .join(", ") || "none"
        }\n`,
    );
    if (crashed) await sleep(LEASE_MS + 200);
  }
  checkDeadlines(runs - 1, true);
  checkReturns(runs - 1, true);

  // The store exported whole: no secret.
  const hits = secretHits(await exportStore(storePath));
  tally.check(INVARIANTS[4], hits.length === 0, () => `store export holds ${hits.join(", ")}`);

  stopCounting();
  await Promise.all([world.close(), slack.close(), smtp.close()]);
  await rm(dir, { recursive: true, force: true });

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `soak: ${runs} runs, seed ${seed}, ${seconds}s (last ${Math.min(CLEAN_RUNS, runs)} runs without faults)`,
  );
  out(
    `messages: ${received[SLACK].length} Slack posts, ${received[MAIL].length} emails; due notifications: ${due[SLACK].size} Slack, ${due[MAIL].size} email`,
  );
  out(
    `returning objects: ${returns.length} alerting ones taken away, ${returns.filter((item) => item.goneAt !== undefined).length} confirmed gone meanwhile, ${returns.filter((item) => item.seenAgainAt !== undefined).length} seen again`,
  );
  out("faults injected (runs):");
  for (const [kind, count] of [...tally.faults].sort()) out(`  ${kind.padEnd(40)} ${count}`);
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
