/**
 * One soak run in its own process, so that the soak can kill it between send and mark. It is `certwatch sweep
 * --json` with one difference: the delivery lease is short (argv), because the soak's runs are seconds apart on
 * the wall clock while the default lease is 15 minutes.
 */
import { loadForCli, parseNow } from "../../lib/cli/context.js";
import { renderSummary } from "../../lib/cli/output.js";
import { escapeInJson } from "../../lib/model/text.js";
import { HttpClient } from "../../lib/sources/http.js";
import { openStore } from "../../lib/store/open.js";
import { runSweep } from "../../lib/sweep.js";

const [configFile, nowText, leaseText] = process.argv.slice(2);
if (!configFile || !nowText) throw new Error("usage: child.js <config> <now> [leaseMs]");
const { config, redact } = await loadForCli(configFile);
const opened = await openStore(config.store, { dryRun: false });
const http = new HttpClient();
try {
  const summary = await runSweep({
    config,
    store: opened.store,
    http,
    now: parseNow(nowText),
    purgeHistory: opened.embedded,
    redact,
    leaseMs: leaseText ? Number(leaseText) : undefined,
  });
  const lines: string[] = [];
  renderSummary(summary, { out: (line) => lines.push(line), err: (line) => lines.push(line), isTTY: false });
  // As `certwatch sweep --json` prints it; the human summary goes to stderr, so the soak scans both.
  process.stdout.write(`${escapeInJson(redact(JSON.stringify(summary, null, 2)))}\n`);
  for (const line of lines) process.stderr.write(`${redact(line)}\n`);
  process.exitCode = summary.exitCode;
} finally {
  await http.close();
  await opened.close();
}
