import { escapeInJson } from "../model/text.js";
import { HttpClient } from "../sources/http.js";
import { openStore } from "../store/open.js";
import { futureRunProblem, RunOrderError } from "../run-order.js";
import { runSweep } from "../sweep.js";
import { loadForCli, parseNow, selectSources } from "./context.js";
import { liveProgress, type Output, renderSummary, sourceLine } from "./output.js";

export interface SweepCommandOptions {
  config: string;
  now?: string;
  source?: string[];
  dryRun?: boolean;
  json?: boolean;
  verbose?: boolean;
}

export async function sweepCommand(options: SweepCommandOptions, output: Output): Promise<number> {
  const now = parseNow(options.now);
  const ahead = options.dryRun ? undefined : futureRunProblem(now);
  if (ahead) throw new RunOrderError(ahead);
  const { config, redact } = await loadForCli(options.config);
  selectSources(config, options.source, options.config);
  const opened = await openStore(config.store, { dryRun: options.dryRun ?? false, redact });
  const http = new HttpClient();
  // On a terminal a live block; otherwise (a log, CI) one plain line per source as it finishes.
  const progress = !options.json && output.status ? liveProgress(output.status) : undefined;
  // Ctrl-C once: a source swept in parts stops at its next page and saves its place; twice: stop at once.
  const interrupt = new AbortController();
  const onInterrupt = () => {
    if (interrupt.signal.aborted) process.exit(130);
    interrupt.abort();
    output.err(
      "interrupted: a source that can be swept in parts stops at its next page and saves its place; the others " +
        "finish (Ctrl-C again to quit now)",
    );
  };
  process.on("SIGINT", onInterrupt);
  try {
    const summary = await runSweep({
      config,
      store: opened.store,
      http,
      now,
      dryRun: options.dryRun,
      only: options.source,
      purgeHistory: opened.embedded,
      redact,
      interrupt: interrupt.signal,
      onProgress: progress?.update,
      onSourceDone: (report) => {
        const print = () => {
          if (!options.json) output.err(redact(sourceLine(report)));
        };
        if (progress) progress.done(report.name, print);
        else print();
      },
    });
    if (options.json) output.out(escapeInJson(redact(JSON.stringify(summary, null, 2))));
    else {
      const lines: string[] = [];
      renderSummary(summary, { ...output, out: (line) => lines.push(line) }, undefined, {
        verbose: options.verbose,
      });
      for (const line of lines) output.out(redact(line));
    }
    return summary.exitCode;
  } finally {
    process.off("SIGINT", onInterrupt);
    progress?.stop();
    await http.close();
    await opened.close();
  }
}
