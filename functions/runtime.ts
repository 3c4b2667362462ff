import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { SSMClient } from "@aws-sdk/client-ssm";
import type { Config } from "../lib/config/schema.js";
import type { Alert } from "../lib/model/types.js";
import type { HttpClient } from "../lib/sources/http.js";
import type { Store } from "../lib/store/store.js";
import type { SourceReport } from "../lib/sweep-source.js";

/**
 * What every handler works with. Kept by a warm container: connection pools, the store client and the logger for its
 * whole life; the config, with its `${ssm:...}` values, for `configTtlMs()` at a time.
 */
export interface Runtime {
  config: Config;
  store: Store;
  http: HttpClient;
  redact: (text: string) => string;
  logger: Logger;
  metrics: Metrics;
}

/**
 * How long a warm container trusts the config and the SSM values in it before reading them again. A key rotated in
 * SSM takes effect within this, without a redeploy; a burst of invocations (the dispatch fan-out's workers on one
 * container) still reads SSM once per TTL rather than once per message, well inside GetParameter's throughput.
 * CERTWATCH_CONFIG_TTL_SECONDS overrides it (0: read on every invocation).
 */
export const CONFIG_TTL_MS = 5 * 60_000;

export function configTtlMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.CERTWATCH_CONFIG_TTL_SECONDS;
  const seconds = text === undefined || text.trim() === "" ? Number.NaN : Number(text);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : CONFIG_TTL_MS;
}

/** The store client's settings: a new config that keeps them keeps the client (and its connections). */
function storeSettings(config: Config): string {
  const { table, region, endpoint, historyDays } = config.store;
  return JSON.stringify([table, region, endpoint, historyDays]);
}

interface Held {
  runtime: Runtime;
  storeKey: string;
  /** What the store masks with: swapped with each config, since the store outlives it. */
  redact: { current: (text: string) => string };
}

let shared: Promise<Held> | undefined;
let loadedAt = 0;
let ssmClient: SSMClient | undefined;

/**
 * What building a runtime needs, imported on the first invocation rather than with the handler: the AWS SDK
 * clients, the config's YAML and schema, undici and the store are most of a cold start's import time (see
 * docs/BENCHMARKS.md, "Cold start"). The bundles are split, so none of it is even read before then.
 */
async function modules() {
  const [{ Logger }, { Metrics }, { SSMClient }, deployed, secrets, { HttpClient }, { Store }] =
    await Promise.all([
      import("@aws-lambda-powertools/logger"),
      import("@aws-lambda-powertools/metrics"),
      import("./aws/ssm.js"),
      import("../lib/config/deployed.js"),
      import("../lib/config/secrets.js"),
      import("../lib/sources/http.js"),
      import("../lib/store/store.js"),
    ]);
  return { Logger, Metrics, SSMClient, ...deployed, ...secrets, HttpClient, Store };
}

type Modules = Awaited<ReturnType<typeof modules>>;

async function build(previous: Held | undefined): Promise<Held> {
  const m = await modules();
  const { deployedSettings, loadDeployedConfig, makeRedactor, secretValues } = m;
  ssmClient ??= new m.SSMClient({});
  // A fresh resolver each time (loadDeployedConfig makes one): every parameter is read again.
  const config = await loadDeployedConfig(deployedSettings(process.env), ssmClient);
  const redact = makeRedactor(secretValues(config));
  const storeKey = storeSettings(config);
  if (previous) {
    previous.redact.current = redact;
    let { store } = previous.runtime;
    if (previous.storeKey !== storeKey) {
      store.close();
      store = newStore(m, config, previous.redact);
    }
    return { runtime: { ...previous.runtime, config, store, redact }, storeKey, redact: previous.redact };
  }
  const holder = { current: redact };
  return {
    runtime: {
      config,
      store: newStore(m, config, holder),
      http: new m.HttpClient(),
      redact,
      // POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE, set by the template, name them.
      logger: new m.Logger(),
      metrics: new m.Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "certwatch" }),
    },
    storeKey,
    redact: holder,
  };
}

function newStore(m: Modules, config: Config, redact: Held["redact"]): Store {
  const { store } = config;
  return new m.Store({
    table: store.table,
    region: store.region,
    endpoint: store.endpoint,
    historyDays: store.historyDays,
    redact: (text) => redact.current(text),
  });
}

/**
 * The container's runtime, its config read again once it is older than `configTtlMs()`. A failed first start (a
 * missing parameter, say) is not kept: the next invocation tries again. A failed refresh keeps the config read
 * before, says so in the log, and is tried again on the next invocation.
 */
export async function lambdaRuntime(): Promise<Runtime> {
  const now = Date.now();
  if (!shared || now - loadedAt >= configTtlMs()) {
    const before = shared;
    loadedAt = now;
    const attempt = (async () => build(before ? await before : undefined))();
    shared = attempt.catch(async (error: unknown) => {
      if (!before) {
        shared = undefined;
        throw error;
      }
      const kept = await before;
      loadedAt = 0;
      kept.runtime.logger.warn("the config could not be read again; the one read before is used", {
        error: kept.runtime.redact((error as Error).message),
      });
      return kept;
    });
  }
  return (await shared).runtime;
}

/** EMF metrics per source: objects seen, API calls, errors, duration, and its news by severity. */
export function recordSourceMetrics(metrics: Metrics, report: SourceReport, alerts: Alert[]): void {
  const single = metrics.singleMetric();
  single.addDimension("source", report.name);
  single.addMetric("objects", MetricUnit.Count, report.objects);
  single.addMetric("apiCalls", MetricUnit.Count, report.calls);
  single.addMetric("throttled", MetricUnit.Count, report.throttled);
  single.addMetric("errors", MetricUnit.Count, report.ok ? 0 : 1);
  single.addMetric("duration", MetricUnit.Milliseconds, report.durationMs);
  for (const severity of ["critical", "warning", "info"] as const) {
    const count = alerts.filter(
      (alert) => alert.severity === severity && alert.transition !== "resolved",
    ).length;
    single.addMetric(`alerts_${severity}`, MetricUnit.Count, count);
  }
  single.addMetric(
    "alerts_resolved",
    MetricUnit.Count,
    alerts.filter((a) => a.transition === "resolved").length,
  );
}

let sqsClient: Promise<SQSClient> | undefined;

/** The container's SQS client, made on first use (dispatch queues the units, a sweep in parts its follow-ups). */
export const sqs: Pick<SQSClient, "send"> = {
  send: async (...args: Parameters<SQSClient["send"]>) => {
    sqsClient ??= import("./aws/sqs.js").then(({ SQSClient }) => new SQSClient({}));
    return (await sqsClient).send(...args);
  },
} as Pick<SQSClient, "send">;
