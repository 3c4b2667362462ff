import { loadConfig } from "../lib/config/load.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import { HttpClient } from "../lib/sources/http.js";
import { openStore } from "../lib/store/open.js";
import { runSweep } from "../lib/sweep.js";

/** Kept across invocations of a warm container: connection pools are worth reusing. */
const http = new HttpClient();

/** Scheduled sweep: the same pipeline as `certwatch sweep`, against the deployment's DynamoDB table. */
export async function handler(): Promise<{ runId: string; exitCode: number }> {
  const config = await loadConfig(process.env.CERTWATCH_CONFIG ?? "certwatch.yml");
  const redact = makeRedactor(secretValues(config));
  const opened = await openStore(
    { ...config.store, type: "dynamodb", table: process.env.CERTWATCH_TABLE ?? config.store.table },
    { dryRun: false },
  );
  try {
    const summary = await runSweep({ config, store: opened.store, http, now: new Date(), redact });
    console.log(redact(JSON.stringify({ message: "sweep finished", ...summary })));
    // A failed source or delivery is reported, not thrown: a Lambda retry would re-sweep every other source.
    return { runId: summary.runId, exitCode: summary.exitCode };
  } finally {
    await opened.close();
  }
}
