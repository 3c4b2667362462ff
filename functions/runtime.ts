import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { SSMClient } from "@aws-sdk/client-ssm";
import { deployedSettings, loadDeployedConfig } from "../lib/config/deployed.js";
import type { Config } from "../lib/config/schema.js";
import type { Alert } from "../lib/model/types.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import { HttpClient } from "../lib/sources/http.js";
import { Store } from "../lib/store/store.js";
import type { SourceReport } from "../lib/sweep-source.js";

/** What every handler works with. Built once per container: config, SSM values and connection pools are reused. */
export interface Runtime {
  config: Config;
  store: Store;
  http: HttpClient;
  redact: (text: string) => string;
  logger: Logger;
  metrics: Metrics;
}

let shared: Promise<Runtime> | undefined;

export function lambdaRuntime(): Promise<Runtime> {
  shared ??= (async () => {
    const config = await loadDeployedConfig(deployedSettings(process.env), new SSMClient({}));
    const { store } = config;
    const redact = makeRedactor(secretValues(config));
    return {
      config,
      store: new Store({
        table: store.table,
        region: store.region,
        endpoint: store.endpoint,
        historyDays: store.historyDays,
        redact,
      }),
      http: new HttpClient(),
      redact,
      // POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE, set by the template, name them.
      logger: new Logger(),
      metrics: new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "certwatch" }),
    };
  })();
  // A failed start (a missing parameter, say) is not kept: the next invocation tries again.
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
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
