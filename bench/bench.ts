/**
 * `npm run bench`: the real pipeline (runSweep) against the five simulators with a large fleet, vendor QPS limits
 * and a per-call latency, into an embedded dynalite in a temp dir, delivering to a local Slack receiver. Measures a
 * first sweep and a steady-state sweep an hour later: per source objects, calls, wall time against its lower bound,
 * DynamoDB units, peak RSS, and the Lambda bundle sizes. Prints targets beside figures, asserts nothing, and writes
 * the same as JSON under bench/results/. Options: `npm run bench -- --help`.
 */
import { execFile } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import { promisify, parseArgs } from "node:util";
import { parseConfig } from "../lib/config/load.js";
import { configSchema } from "../lib/config/schema.js";
import { HOUR_MS } from "../lib/model/time.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { collectEndpoints } from "../lib/sources/tls/endpoints.js";
import { DEFAULT_PROBE_CONCURRENCY } from "../lib/sources/tls/probe.js";
import { type RunSummary, runSweep } from "../lib/sweep.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { clientCertificateFleet, deploymentFleet, sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { scmFleet } from "../sim/fleet.js";
import { identityCenterFleet, identityCenterSimulator } from "../sim/huawei-identity-center.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import type { SimServer } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { boundSeconds, CONCURRENCY, fixed, MB, MemoryProbe, pad, startStore } from "./common.js";
import { hostnameIndexBench, hostnameIndexLines } from "./hostnames.js";
import { oneSourceBench } from "./one-source.js";
import { organizationBench } from "./organization.js";

const { values: flags } = parseArgs({
  options: {
    scm: { type: "string", default: "20000" },
    "ic-apps": { type: "string", default: "20" },
    "ic-certs": { type: "string", default: "5000" },
    client: { type: "string", default: "10000" },
    jobs: { type: "string", default: "500" },
    workers: { type: "string", default: "10" },
    orders: { type: "string", default: "5000" },
    latency: { type: "string", default: "30" },
    "aliyun-qps": { type: "string", default: "10" },
    "huawei-qps": { type: "string", default: "10" },
    "no-bundles": { type: "boolean", default: false },
    "in-process-store": { type: "boolean", default: false },
    "tls-probes": { type: "string", default: "2000" },
    "tls-only": { type: "boolean", default: false },
    hostnames: { type: "string", default: "100000" },
    "hostnames-only": { type: "boolean", default: false },
    "one-source": { type: "string" },
    org: { type: "boolean", default: false },
    "org-members": { type: "string", default: "50" },
    "org-certs": { type: "string", default: "2000" },
    "heap-limit": { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(
    "npm run bench -- [--scm N] [--ic-apps N] [--ic-certs N] [--client N] [--jobs N] [--workers N] [--orders N]\n" +
      "                 [--latency MS] [--aliyun-qps Q] [--huawei-qps Q] [--no-bundles] [--in-process-store]\n" +
      "                 [--tls-probes N (0: none)] [--tls-only (the probe figure alone)]\n" +
      "                 [--hostnames N (hostname index: N certificates and endpoints; 0: none)] [--hostnames-only]\n" +
      "                 [--one-source N (one SCM source of N objects, as one Lambda sweep worker sweeps it: first,\n" +
      "                 quiet, 1% changed, each delivery timed apart; --huawei-qps, --latency)]\n" +
      "                 [--org [--org-members N] [--org-certs N] (a Huawei organization in one CLI run: first, quiet)]\n" +
      "                 [--heap-limit MB (their sweep processes' V8 heap limit, as Lambda sets one from its memory)]",
  );
  process.exit(0);
}
const num = (name: keyof typeof flags) => Number(flags[name]);
const fleet = {
  scm: num("scm"),
  icApps: num("ic-apps"),
  icCerts: num("ic-certs"),
  client: num("client"),
  jobs: num("jobs"),
  workers: num("workers"),
  orders: num("orders"),
};
const latencyMs = num("latency");
const aliyunQps = num("aliyun-qps");
const huaweiQps = num("huawei-qps");

/** One account per cloud: every source of a cloud signs with the same key, so it shares one budget. */
const HUAWEI_KEYS = { accessKey: "BENCHACCESSKEY000001", secretKey: "bench-huawei-secret" };
const ALIYUN_KEYS = { accessKey: "LTAI5tBENCHACCESSKEY", secretKey: "bench-aliyun-secret" };

function settledMB(): { rssMB: number; heapMB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rssMB: rss / MB, heapMB: heapUsed / MB };
}

/**
 * Each handler's cold import, as test/packaging.test.ts measures it: unzipped outside the repo (no node_modules), then
 * imported in a fresh process; the median of `runs`.
 */
async function handlerImportMs(zip: string, name: string, runs = 5): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "certwatch-bench-import-"));
  try {
    await promisify(execFile)("unzip", ["-q", zip, "-d", dir]);
    const url = new URL(`file://${join(dir, "functions", `${name}.mjs`)}`).href;
    const probe =
      `const started = process.hrtime.bigint(); await import(${JSON.stringify(url)});` +
      `process.stdout.write(String(Number(process.hrtime.bigint() - started) / 1e6));`;
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", probe], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", AWS_REGION: "ap-southeast-1" },
      });
      times.push(Number(stdout));
    }
    return times.sort((a, b) => a - b)[Math.floor(runs / 2)] ?? Number.NaN;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `serverless package` with the project's osls into a temp dir, as test/packaging.test.ts does; zip sizes, and each
 * handler's import time (`<name> import ms`).
 */
async function bundleSizes(): Promise<Record<string, number> | { error: string }> {
  const work = await mkdtemp(join(tmpdir(), "certwatch-bench-package-"));
  try {
    const require = createRequire(import.meta.url);
    const manifest = require.resolve("osls/package.json");
    const bin = (JSON.parse(readFileSync(manifest, "utf8")) as { bin: Record<string, string> }).bin
      .serverless;
    await mkdir(join(work, "tmp"));
    const env = { ...process.env, TMPDIR: join(work, "tmp"), SLS_TELEMETRY_DISABLED: "1" };
    await promisify(execFile)(
      process.execPath,
      [
        join(dirname(manifest), bin ?? ""),
        "package",
        "--stage",
        "bench",
        "--package",
        join(work, "out"),
        // The packaging test's config: a checkout has no certwatch.yml, and packaging refuses to go without one.
        "--param=configFile=test/packaging/certwatch.yml",
      ],
      { cwd: process.cwd(), env, timeout: 200_000, maxBuffer: 16 * MB },
    );
    const sizes: Record<string, number> = {};
    for (const file of (await readdir(join(work, "out"))).filter((f) => f.endsWith(".zip"))) {
      sizes[file.replace(/\.zip$/, "")] = (await stat(join(work, "out", file))).size;
    }
    for (const name of Object.keys(sizes)) {
      sizes[`${name} import ms`] = await handlerImportMs(join(work, "out", `${name}.zip`), name);
    }
    return sizes;
  } catch (error) {
    return { error: (error as Error).message.split("\n")[0] ?? "serverless package failed" };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface SourceRow {
  name: string;
  account: string;
  objects: number;
  calls: number;
  retries: number;
  throttled: number;
  wallS: number;
  boundS: number;
  ratio: number;
}

interface AccountRow {
  account: string;
  qps: number;
  sources: string[];
  calls: number;
  wallS: number;
  boundS: number;
  ratio: number;
  serverThrottled: number;
  serverMaxInFlight: number;
}

function sweepFigures(
  summary: RunSummary,
  accounts: { name: string; qps: number; sources: string[]; sims: SimServer[] }[],
  simBefore: Map<SimServer, { requests: number; throttled: number }>,
) {
  const accountOf = (source: string) => accounts.find((a) => a.sources.includes(source));
  const sources: SourceRow[] = summary.sources.map((report) => {
    const account = accountOf(report.name);
    const boundS = boundSeconds(report.calls, account?.qps ?? 1, latencyMs);
    return {
      name: report.name,
      account: account?.name ?? "?",
      objects: report.objects,
      calls: report.calls,
      retries: report.retries,
      throttled: report.throttled,
      wallS: report.durationMs / 1000,
      boundS,
      ratio: report.durationMs / 1000 / boundS,
    };
  });
  const perAccount: AccountRow[] = accounts.map((account) => {
    const rows = sources.filter((row) => account.sources.includes(row.name));
    const calls = rows.reduce((sum, row) => sum + row.calls, 0);
    const wallS = Math.max(...rows.map((row) => row.wallS));
    const boundS = boundSeconds(calls, account.qps, latencyMs);
    return {
      account: account.name,
      qps: account.qps,
      sources: account.sources,
      calls,
      wallS,
      boundS,
      ratio: wallS / boundS,
      serverThrottled: account.sims.reduce(
        (sum, sim) => sum + sim.stats.throttled - (simBefore.get(sim)?.throttled ?? 0),
        0,
      ),
      serverMaxInFlight: Math.max(...account.sims.map((sim) => sim.stats.maxInFlight)),
    };
  });
  return { sources, accounts: perAccount };
}

/**
 * A TLS site (sim/tls-site.ts) serving one wildcard chain to every SNI name, in a worker thread: the probes are
 * measured, not the server's share of one event loop.
 */
async function startTlsSiteWorker(): Promise<{ port: number; stop: () => Promise<number> }> {
  const site = new URL("../sim/tls-site.js", import.meta.url).href;
  const worker = new Worker(
    `const { parentPort } = require("node:worker_threads");
     import(${JSON.stringify(site)}).then(async ({ makeCa, makeLeaf, TlsSite }) => {
       const now = new Date();
       const { intermediate } = makeCa(now);
       const leaf = makeLeaf(now, ["*.bench.test"], 90, intermediate);
       const running = await new TlsSite().serve("*", [leaf, intermediate]).start();
       parentPort.postMessage(running.port);
     });`,
    { eval: true },
  );
  const [port] = (await once(worker, "message")) as [number];
  return { port, stop: () => worker.terminate() };
}

/**
 * Probe throughput: `count` endpoints, one SNI name each, on one local TLS server, through the tls-endpoints
 * collector at its default concurrency: handshake, chain walk and certificate facts, no network latency.
 */
async function tlsProbeThroughput(count: number) {
  const site = await startTlsSiteWorker();
  try {
    const config = configSchema.parse({
      sources: [
        {
          name: "bench-edge",
          type: "tls-endpoints",
          endpoints: Array.from({ length: count }, (_, index) => ({
            host: `e${index}.bench.test`,
            port: site.port,
            connectTo: "127.0.0.1",
          })),
        },
      ],
      receivers: [{ name: "none", type: "slack", webhookUrl: "https://hooks.slack.com/services/T/B/C" }],
    });
    const [source] = config.sources;
    if (source?.type !== "tls-endpoints") throw new Error("bench: the tls-endpoints source did not parse");
    const context = {
      http: new HttpClient(),
      stats: newCallStats(),
      previous: new Map(),
      warn: () => undefined,
    };
    let failed = 0;
    const started = Date.now();
    for await (const observation of collectEndpoints(source, context)) {
      if (observation.status === "failed") failed++;
    }
    const wallS = (Date.now() - started) / 1000;
    await context.http.close();
    return {
      endpoints: count,
      concurrency: DEFAULT_PROBE_CONCURRENCY,
      wallS,
      perSecond: count / wallS,
      failed,
    };
  } finally {
    await site.stop();
  }
}

function tlsProbeLine(figures: Awaited<ReturnType<typeof tlsProbeThroughput>>): string {
  return (
    `tls probes: ${figures.endpoints} endpoints on one local TLS server in ${fixed(figures.wallS)} s at the default ` +
    `concurrency (${figures.concurrency}): ${fixed(figures.perSecond, 0)} endpoints/second, ${figures.failed} failed`
  );
}

/**
 * The hostname index at scale (bench/hostnames.ts), in a store of its own: dynalite in its own process, as the
 * sweeps' store.
 */
async function hostnameIndex(count: number) {
  if (count <= 0) return undefined;
  const dir = await mkdtemp(join(tmpdir(), "certwatch-bench-hostnames-"));
  const opened = await startStore(join(dir, "store"), "certwatch-bench-hostnames", flags["in-process-store"]);
  try {
    const figures = await hostnameIndexBench(opened.store, count, opened);
    return { ...figures, storeProcessPeakRssMB: opened.peakRssMB() };
  } finally {
    await opened.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (flags["one-source"] !== undefined || flags.org) {
    const pace = {
      latencyMs,
      qps: huaweiQps,
      heapLimitMB: flags["heap-limit"] === undefined ? undefined : num("heap-limit"),
    };
    if (flags["one-source"] !== undefined) await oneSourceBench({ ...pace, objects: num("one-source") });
    if (flags.org)
      await organizationBench({ ...pace, members: num("org-members"), certificates: num("org-certs") });
    return;
  }
  if (flags["hostnames-only"]) {
    const at = new Date();
    const figures = await hostnameIndex(num("hostnames"));
    if (!figures) {
      console.log("--hostnames-only with --hostnames 0: nothing to measure");
      return;
    }
    for (const line of hostnameIndexLines(figures)) console.log(line);
    console.log(
      `  store: dynalite in a child process, its peak RSS ${fixed(figures.storeProcessPeakRssMB)} MB`,
    );
    const results = resolve("bench/results");
    await mkdir(results, { recursive: true });
    const file = join(results, `bench-hostnames-${at.toISOString().replace(/[:.]/g, "-")}.json`);
    const machine = {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      node: process.version,
      // Other work on the machine moves these figures: the load average (1, 5, 15 min) at the end.
      loadAverage: loadavg().map((load) => Number(load.toFixed(2))),
    };
    await writeFile(
      file,
      `${JSON.stringify({ at: at.toISOString(), machine, hostnameIndex: figures }, null, 2)}\n`,
    );
    console.log(`written: ${file}`);
    return;
  }
  const tlsProbes = num("tls-probes") > 0 ? await tlsProbeThroughput(num("tls-probes")) : undefined;
  if (flags["tls-only"]) {
    console.log(tlsProbes ? tlsProbeLine(tlsProbes) : "--tls-only with --tls-probes 0: nothing to measure");
    return;
  }
  const now = new Date();
  const dir = await mkdtemp(join(tmpdir(), "certwatch-bench-"));
  const probe = new MemoryProbe();
  const scm = scmSimulator({
    certificates: scmFleet({ count: fleet.scm, now }),
    credentials: HUAWEI_KEYS,
    latencyMs,
    qps: huaweiQps,
  });
  const ssoFleet = identityCenterFleet({
    applications: fleet.icApps,
    certificatesPerApplication: Math.max(2, Math.round(fleet.icCerts / fleet.icApps)),
    now,
  });
  const ic = identityCenterSimulator({
    fleet: ssoFleet,
    credentials: HUAWEI_KEYS,
    latencyMs,
    qps: huaweiQps,
  });
  const cas = new CasSimulator({
    credentials: ALIYUN_KEYS,
    qps: aliyunQps,
    latencyMs,
    clientCertificates: clientCertificateFleet({ count: fleet.client, now }),
    deploymentJobs: deploymentFleet({ jobs: fleet.jobs, workersPerJob: fleet.workers, now }),
    sslCertificates: sslCertificateFleet({ count: fleet.orders, now }),
    now,
  });
  const slack = new SlackReceiverSim();
  const [scmUrl, icUrl, casUrl, slackUrl] = await Promise.all([
    scm.listen(),
    ic.listen(),
    cas.listen(),
    slack.listen(),
  ]);
  const hw = `{ accessKey: ${HUAWEI_KEYS.accessKey}, secretKey: ${HUAWEI_KEYS.secretKey} }`;
  const ali = `{ accessKey: ${ALIYUN_KEYS.accessKey}, secretKey: ${ALIYUN_KEYS.secretKey} }`;
  const config = await parseConfig(
    `
store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }
sources:
  - { name: hw-scm, type: huawei-scm, endpoint: "${scmUrl}", credentials: ${hw}, qps: ${huaweiQps}, region: ap-southeast-1 }
  - { name: hw-sso, type: huawei-identity-center, endpoint: "${icUrl}", credentials: ${hw}, qps: ${huaweiQps}, instanceId: ${ssoFleet.instanceId} }
  - { name: ali-pki, type: aliyun-client-certificates, endpoint: "${casUrl}", credentials: ${ali}, qps: ${aliyunQps} }
  - { name: ali-deploy, type: aliyun-deployment-jobs, endpoint: "${casUrl}", credentials: ${ali}, qps: ${aliyunQps} }
  - { name: ali-ssl, type: aliyun-ssl-certificates, endpoint: "${casUrl}", credentials: ${ali}, qps: ${aliyunQps} }
receivers:
  - { name: bench-slack, type: slack, webhookUrl: "${slackUrl}" }
`,
    "(bench config)",
  );
  const accounts = [
    { name: "huawei", qps: huaweiQps, sources: ["hw-scm", "hw-sso"], sims: [scm, ic] as SimServer[] },
    {
      name: "aliyun",
      qps: aliyunQps,
      sources: ["ali-pki", "ali-deploy", "ali-ssl"],
      sims: [cas] as SimServer[],
    },
  ];
  const http = new HttpClient();
  const opened = await startStore(join(dir, "store"), config.store.table, flags["in-process-store"]);
  const progress = new Map<string, number>();
  const onProgress = (source: string, { objects }: { objects: number }) => {
    progress.set(source, objects);
    probe.objects = [...progress.values()].reduce((sum, n) => sum + n, 0);
  };

  const sweeps = [];
  let storeRssMB: number | undefined;
  try {
    // Steady: an hour later, as a schedule would; quiet: a minute after that, when nothing can have changed.
    for (const [phase, at] of [
      ["first", now],
      ["steady", new Date(now.getTime() + HOUR_MS)],
      ["quiet", new Date(now.getTime() + HOUR_MS + 60_000)],
    ] as const) {
      const usageBefore = { ...opened.store.usage };
      const simBefore = new Map(accounts.flatMap((a) => a.sims).map((sim) => [sim, { ...sim.stats }]));
      const postsBefore = slack.posts.length;
      progress.clear();
      probe.reset();
      const started = Date.now();
      const summary = await runSweep({ config, store: opened.store, http, now: at, onProgress });
      const wallS = (Date.now() - started) / 1000;
      probe.sample();
      sweeps.push({
        phase,
        wallS,
        exitCode: summary.exitCode,
        errors: summary.sources.filter((s) => !s.ok).map((s) => `${s.name}: ${s.error}`),
        ...sweepFigures(summary, accounts, simBefore),
        dynamo: {
          writeUnits: opened.store.usage.writeUnits - usageBefore.writeUnits,
          readUnits: opened.store.usage.readUnits - usageBefore.readUnits,
        },
        alerts: summary.alerts.length,
        news: [...new Set(summary.alerts.map((a) => `${a.source} ${a.stage} ${a.transition}`))].slice(0, 8),
        slackPosts: slack.posts.length - postsBefore,
        peakRssMB: probe.peak / MB,
        peakHeapMB: probe.peakHeap / MB,
        peakExternalMB: probe.peakExternal / MB,
        heapKBPer1000Objects: probe.heapSlope(),
        after: settledMB(),
      });
    }
    storeRssMB = opened.peakRssMB();
  } finally {
    probe.stop();
    await http.close();
    await opened.close();
    await Promise.all([scm.close(), ic.close(), cas.close(), slack.close()]);
    await rm(dir, { recursive: true, force: true });
  }
  const bundles = flags["no-bundles"] ? { skipped: "--no-bundles" } : await bundleSizes();
  // Before the hostname index's case, which would raise it.
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  const hostnames = await hostnameIndex(num("hostnames"));

  const result = {
    at: now.toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGB: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
    },
    fleet,
    latencyMs,
    accounts: accounts.map(({ name, qps, sources }) => ({ name, qps, sources, sharedAccessKey: true })),
    concurrencyPerAccount: CONCURRENCY,
    sweeps,
    maxRssMB,
    store: flags["in-process-store"] ? "dynalite in this process" : "dynalite in a child process",
    storeProcessPeakRssMB: storeRssMB ?? 0,
    bundles,
    tlsProbes,
    hostnameIndex: hostnames,
    targets: {
      wallRatio: 1.1,
      // Per source, its sweep record and its LAST record (the last one written, read as its previous sweep).
      steadyWriteUnits: 2 * config.sources.length + 2,
      peakRssMB: 256,
      memory: "no growth with pages finished",
    },
  };

  const out = (line = "") => console.log(line);
  out(
    `certwatch bench: ${fleet.scm} SCM, ${fleet.icCerts} Identity Center over ${fleet.icApps} apps, ${fleet.client} client ` +
      `certificates, ${fleet.jobs} jobs × ${fleet.workers} workers, ${fleet.orders} SSL orders; latency ${latencyMs} ms; ` +
      `huawei ${huaweiQps} QPS, aliyun ${aliyunQps} QPS (one AccessKey per cloud), ${CONCURRENCY} calls in flight per key`,
  );
  for (const sweep of sweeps) {
    out();
    const listed = Math.max(...sweep.sources.map((row) => row.wallS));
    out(
      `${sweep.phase} sweep: ${fixed(sweep.wallS)} s wall (${fixed(sweep.wallS - listed)} s of it after the last listing: store writes, delivery), exit ${sweep.exitCode}, ${sweep.alerts} alerts, ${sweep.slackPosts} Slack posts`,
    );
    for (const error of sweep.errors) out(`  ERROR ${error}`);
    if (sweep.phase !== "first" && sweep.news.length > 0) out(`  news: ${sweep.news.join("; ")}`);
    out(
      `  ${"source".padEnd(11)}${pad("objects", 8)}${pad("calls", 7)}${pad("retry", 6)}${pad("429", 5)}${pad("wall s", 8)}${pad("bound s", 9)}${pad("ratio", 7)}`,
    );
    for (const row of sweep.sources) {
      out(
        `  ${row.name.padEnd(11)}${pad(row.objects, 8)}${pad(row.calls, 7)}${pad(row.retries, 6)}${pad(row.throttled, 5)}` +
          `${pad(fixed(row.wallS), 8)}${pad(fixed(row.boundS), 9)}${pad(fixed(row.ratio, 2), 7)}  (alone)`,
      );
    }
    for (const row of sweep.accounts) {
      out(
        `  ${(row.account + " key").padEnd(11)}${pad("", 8)}${pad(row.calls, 7)}${pad("", 6)}${pad(row.serverThrottled, 5)}` +
          `${pad(fixed(row.wallS), 8)}${pad(fixed(row.boundS), 9)}${pad(fixed(row.ratio, 2), 7)}  ` +
          `(shared, target ≤ 1.10; server saw ${row.serverMaxInFlight} in flight)`,
      );
    }
    out(
      `  DynamoDB: ${fixed(sweep.dynamo.writeUnits)} write units, ${fixed(sweep.dynamo.readUnits)} read units` +
        (sweep.phase !== "first" ? ` (target writes ≤ ${result.targets.steadyWriteUnits})` : ""),
    );
    out(
      `  memory: peak RSS ${fixed(sweep.peakRssMB)} MB (target ≤ 256; peak JS heap ${fixed(sweep.peakHeapMB)} MB, ` +
        `external ${fixed(sweep.peakExternalMB)} MB); heap +${fixed(sweep.heapKBPer1000Objects)} KB per ` +
        `1,000 objects seen (target: flat); after the sweep, GC'd: heap ${fixed(sweep.after.heapMB)} MB, RSS ${fixed(sweep.after.rssMB)} MB`,
    );
  }
  out();
  out(
    `process maxRSS: ${fixed(result.maxRssMB)} MB (target ≤ 256); store: ${result.store}` +
      (storeRssMB ? `, its peak RSS ${fixed(storeRssMB)} MB` : ""),
  );
  out(
    `Lambda bundles: ${Object.entries(bundles)
      .map(([name, size]) =>
        typeof size !== "number"
          ? `${name}: ${size}`
          : name.endsWith(" import ms")
            ? `${name.replace(/ ms$/, "")} ${fixed(size)} ms`
            : `${name} ${fixed(size / 1024, 0)} KB`,
      )
      .join(", ")}`,
  );
  if (tlsProbes) out(tlsProbeLine(tlsProbes));
  if (hostnames) for (const line of hostnameIndexLines(hostnames)) out(line);
  const results = resolve("bench/results");
  await mkdir(results, { recursive: true });
  const file = join(results, `bench-${now.toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  out(`written: ${file}`);
}

await main();
