/**
 * `npm run bench -- --one-source N`: one Huawei SCM source of N certificates alone, the way one Lambda sweep worker
 * runs it (issue #18). Three sweeps, each in a fresh Node process (bench/sweep-child.ts), against one store in a
 * process of its own that outlives them: a first sweep into an empty store, a quiet one (nothing changed), and one
 * after 1% of the certificates changed. Per sweep: wall, listing, the vendor bound, the time spent writing, store
 * units, peak RSS, and RSS per object above the base of a sweep of BASE_OBJECTS certificates; then, apart, the
 * delivery of its news, which on Lambda the notify function makes (bench/sweep-child.ts). SCM is served by
 * bench/scm-listing.ts, which keeps up with 10 calls/s at 100,000 certificates.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DAY_MS } from "../lib/model/time.js";
import { type ScmCertificate, scmFleet, scmTime } from "../sim/fleet.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { boundSeconds, fixed, pad, startStore } from "./common.js";
import { type ScmListing, scmListing } from "./scm-listing.js";
import type { SweepFigures, SweepJob } from "./sweep-child.js";

const KEYS = { accessKey: "BENCHACCESSKEY000001", secretKey: "bench-huawei-secret" };
const TABLE = "certwatch-bench";
/** The tiny source whose sweep gives the base RSS: the same modules loaded, the same pipeline run. */
const BASE_OBJECTS = 10;

export interface VendorPace {
  qps: number;
  latencyMs: number;
  /**
   * V8's old-space limit for each sweep process (`--max-old-space-size`), as Lambda's Node runtime sets one from the
   * function's memory: the heap then collects before it grows past it, and a sweep that needs more fails.
   */
  heapLimitMB?: number;
}

export interface SweepRow {
  phase: string;
  objects: number;
  calls: number;
  /** The vendor bound: calls ÷ QPS (or latency over the in-flight calls, if slower) of the busiest credential. */
  boundS: number;
  ratio: number;
  slackPosts: number;
  /** Peak RSS above the base, per object; absent where no base was measured. */
  rssBytesPerObject?: number;
  figures: SweepFigures;
}

/** Runs one sweep in a fresh Node process and answers what it measured there. */
export async function sweepInChild(job: SweepJob, heapLimitMB?: number): Promise<SweepFigures> {
  const script = join(dirname(fileURLToPath(import.meta.url)), "sweep-child.js");
  const child = fork(script, [JSON.stringify(job)], {
    stdio: "inherit",
    execArgv: [...process.execArgv, ...(heapLimitMB ? [`--max-old-space-size=${heapLimitMB}`] : [])],
    // The SDK's notice that it will need Node 22, once per process: nine lines per sweep that say nothing of it.
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  });
  let figures: SweepFigures | undefined;
  child.on("message", (message) => {
    figures = message as SweepFigures;
  });
  // "close", not "exit": by then every message sent over the channel has been received.
  const [code] = (await once(child, "close")) as [number | null];
  if (!figures) throw new Error(`the sweep process exited (${code}) without its figures`);
  return figures;
}

/** The row of one sweep whose units each list with credentials of their own, all swept together. */
export function sweepRow(
  phase: string,
  figures: SweepFigures,
  pace: VendorPace,
  slackPosts: number,
  baseRssMB?: number,
): SweepRow {
  const objects = figures.units.reduce((sum, unit) => sum + unit.objects, 0);
  const boundS = Math.max(...figures.units.map((unit) => boundSeconds(unit.calls, pace.qps, pace.latencyMs)));
  return {
    phase,
    objects,
    calls: figures.units.reduce((sum, unit) => sum + unit.calls, 0),
    boundS,
    ratio: figures.wallS / boundS,
    slackPosts,
    rssBytesPerObject:
      baseRssMB === undefined ? undefined : ((figures.peakRssMB - baseRssMB) * 1024 * 1024) / objects,
    figures,
  };
}

const percentOf = (part: number, whole: number) => `${fixed(part)} (${fixed((100 * part) / whole, 0)}%)`;

/** The issue's table: one line per sweep. */
export function sweepTable(rows: SweepRow[]): string[] {
  const columns: [string, number, (row: SweepRow) => string][] = [
    ["sweep", 11, (row) => row.phase],
    ["objects", 8, (row) => String(row.objects)],
    ["wall s", 7, (row) => fixed(row.figures.wallS)],
    ["listing s", 10, (row) => fixed(row.figures.listingS)],
    ["calls", 6, (row) => String(row.calls)],
    ["bound s", 8, (row) => fixed(row.boundS)],
    ["ratio", 6, (row) => fixed(row.ratio, 2)],
    ["writes busy s", 14, (row) => percentOf(row.figures.writesBusyS, row.figures.wallS)],
    ["after listing s", 16, (row) => percentOf(row.figures.writesAfterListingS, row.figures.wallS)],
    ["write u", 8, (row) => fixed(row.figures.writeUnits, 0)],
    ["read u", 7, (row) => fixed(row.figures.readUnits, 0)],
    ["alerts", 7, (row) => String(row.figures.alerts)],
    ["RSS MB", 7, (row) => fixed(row.figures.peakRssMB)],
    ["heap MB", 8, (row) => fixed(row.figures.peakHeapMB)],
    ["live MB", 8, (row) => fixed(row.figures.peakLiveHeapMB)],
    ["B/object", 9, (row) => (row.rssBytesPerObject === undefined ? "-" : fixed(row.rssBytesPerObject, 0))],
    ["delivery s", 11, (row) => (row.figures.delivery ? fixed(row.figures.delivery.wallS) : "-")],
  ];
  const line = (cells: string[]) => cells.join(" ");
  return [
    line(columns.map(([title, width], index) => (index === 0 ? title.padEnd(width) : pad(title, width)))),
    ...rows.map((row) =>
      line(
        columns.map(([, width, cell], index) =>
          index === 0 ? cell(row).padEnd(width) : pad(cell(row), width),
        ),
      ),
    ),
  ];
}

/** Writes `result` as bench/results/bench-<name>-<instant>.json, with the machine it ran on; answers the path. */
export async function writeResult(name: string, at: Date, result: object): Promise<string> {
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    // Other work on the machine moves these figures: the load average (1, 5, 15 min) at the end.
    loadAverage: loadavg().map((load) => Number(load.toFixed(2))),
  };
  const results = resolve("bench/results");
  await mkdir(results, { recursive: true });
  const file = join(results, `bench-${name}-${at.toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, `${JSON.stringify({ at: at.toISOString(), machine, ...result }, null, 2)}\n`);
  return file;
}

/** What a sweep worker is given for one SCM source, delivering to one Slack receiver. */
function oneSourceConfig(scmUrl: string, slackUrl: string, qps: number): string {
  return `
sources:
  - { name: hw-scm, type: huawei-scm, endpoint: "${scmUrl}", credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }, qps: ${qps}, region: ap-southeast-1 }
receivers:
  - { name: bench-slack, type: slack, webhookUrl: "${slackUrl}" }
`;
}

/**
 * Changes one certificate in a hundred as an owner would: half revoked, the other half renewed for 400 more days
 * (and one not issued yet, which has no expiry to keep if revoked, is issued).
 */
function changeOnePercent(scm: ScmListing, certificates: ScmCertificate[]): number {
  const changed = certificates.filter((_, index) => index % 100 === 0);
  changed.forEach((certificate, index) =>
    scm.change(
      certificate.id,
      index % 2 === 1 && certificate.expire_time
        ? { status: "REVOKED" }
        : { expire_time: scmTime(new Date(Date.now() + 400 * DAY_MS)), status: "ISSUED" },
    ),
  );
  return changed.length;
}

export async function oneSourceBench(options: VendorPace & { objects: number }): Promise<void> {
  const { objects, ...pace } = options;
  const at = new Date();
  const dir = await mkdtemp(join(tmpdir(), "certwatch-bench-one-source-"));
  const certificates = scmFleet({ count: objects, now: at });
  const scm = scmListing({ certificates, credentials: KEYS, ...pace });
  const tiny = scmListing({
    certificates: scmFleet({ count: BASE_OBJECTS, now: at }),
    credentials: KEYS,
    ...pace,
  });
  const slack = new SlackReceiverSim();
  const [scmUrl, tinyUrl, slackUrl] = await Promise.all([scm.listen(), tiny.listen(), slack.listen()]);
  const opened = await startStore(join(dir, "store"), TABLE);
  const job = (url: string, table: string): SweepJob => ({
    configYaml: oneSourceConfig(url, slackUrl, pace.qps),
    endpoint: opened.endpoint ?? "",
    table,
    runs: "worker",
  });
  console.log(
    `one source: ${objects} SCM certificates at ${pace.qps} calls/s and ${pace.latencyMs} ms latency; each sweep in ` +
      `a fresh process${pace.heapLimitMB ? ` with a ${pace.heapLimitMB} MB heap limit` : ""}, the store (dynalite) ` +
      "in another",
  );
  const rows: SweepRow[] = [];
  let changed = 0;
  let baseRssMB: number;
  try {
    // Its own table: the base sweep leaves nothing in the store the measured sweeps read.
    const base = await sweepInChild(job(tinyUrl, `${TABLE}-base`), pace.heapLimitMB);
    baseRssMB = base.peakRssMB;
    console.log(`base: a first sweep of ${BASE_OBJECTS} certificates peaks at ${fixed(baseRssMB)} MB RSS`);
    for (const phase of ["first", "quiet", "1% changed"]) {
      if (phase === "1% changed") changed = changeOnePercent(scm, certificates);
      const postsBefore = slack.posts.length;
      const figures = await sweepInChild(job(scmUrl, TABLE), pace.heapLimitMB);
      const row = sweepRow(phase, figures, pace, slack.posts.length - postsBefore, baseRssMB);
      rows.push(row);
      for (const unit of figures.units.filter((u) => !u.ok))
        console.log(`  ERROR ${unit.name}: ${unit.error}`);
      console.log(`${phase}: ${fixed(figures.wallS)} s, peak RSS ${fixed(figures.peakRssMB)} MB`);
    }
  } finally {
    const storeRssMB = opened.peakRssMB();
    await opened.close();
    await Promise.all([scm.close(), tiny.close(), slack.close()]);
    await rm(dir, { recursive: true, force: true });
    console.log(`store process: peak RSS ${fixed(storeRssMB)} MB (not certwatch's)`);
  }
  console.log();
  for (const line of sweepTable(rows)) console.log(line);
  console.log(
    `(${changed} certificates changed before the last sweep; B/object: peak RSS above the ${fixed(baseRssMB)} MB ` +
      `of a ${BASE_OBJECTS}-certificate sweep, per object)`,
  );
  const file = await writeResult("one-source", at, {
    case: "one-source",
    objects,
    ...pace,
    baseObjects: BASE_OBJECTS,
    baseRssMB,
    changedBeforeLastSweep: changed,
    store: "dynalite in a child process, one for the three sweeps; each sweep in a fresh process",
    sweeps: rows,
  });
  console.log(`written: ${file}`);
}
