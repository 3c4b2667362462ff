import { fit, oneLine } from "../model/text.js";
import { FACT_CHARS } from "../notify/digest.js";
import { orphanAdvice } from "../notify/route.js";
import type { RunSummary } from "../sweep.js";
import type { SourceReport, SweepProgress } from "../sweep-source.js";

/** Where human output goes; tests pass their own to read it. */
export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
  isTTY: boolean;
  /** Rewrites one live status line in place (an empty line clears it); only for a terminal. */
  status?: (line: string) => void;
}

export const processOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  isTTY: Boolean(process.stdout.isTTY),
  status: (line) => {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
  },
};

/**
 * One live line for the sources still being swept, redrawn at most every `intervalMs` (and at each source's first
 * object): a sweep streams thousands of objects, a terminal needs a few updates a second.
 */
export function liveProgress(status: (line: string) => void, intervalMs = 100) {
  const running = new Map<string, SweepProgress>();
  let drawnAt = 0;
  const draw = () => {
    drawnAt = Date.now();
    const parts = [...running].map(
      ([name, { objects, calls, throttled }]) =>
        `${name}: ${objects} objects, ${calls} calls${throttled ? `, ${throttled} throttled` : ""}`,
    );
    status(parts.join("  |  "));
  };
  return {
    update(source: string, progress: SweepProgress): void {
      const first = !running.has(source);
      running.set(source, progress);
      if (first || Date.now() - drawnAt >= intervalMs) draw();
    },
    /** Clears the line so that a finished source's summary prints cleanly, then redraws the others. */
    done(source: string, print: () => void): void {
      running.delete(source);
      status("");
      print();
      if (running.size > 0) draw();
    },
  };
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

/** How much of a name or domain, and of an error, a summary line shows: what follows stays on screen. */
const SHOWN_CHARS = 60;
const ERROR_CHARS = 300;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function sourceLine(report: SourceReport): string {
  const missing = report.missing > 0 ? `, ${report.missing} missing, not yet confirmed gone` : "";
  const counts = `${report.objects} objects (+${report.added} new, ${report.changed} changed, ${report.gone} gone${missing})`;
  const calls = `${report.calls} calls${report.retries ? `, ${report.retries} retries` : ""}`;
  const status = report.ok ? "ok    " : "FAILED";
  const head = `${pad(report.name, 16)} ${pad(report.type, 28)} ${status}`;
  if (!report.ok) {
    const streak =
      report.consecutiveFailures > 1 ? ` (${report.consecutiveFailures} failed sweeps in a row)` : "";
    const error = fit(oneLine(report.error ?? ""), ERROR_CHARS);
    return `${head} ${error}${streak}; stored state kept, ${report.objects} known objects still evaluated`;
  }
  return `${head} ${counts}  ${calls}  ${seconds(report.durationMs)}`;
}

/**
 * A short report a person reads after a sweep: sources, what is news, where it went. Names, errors and previews
 * come from the clouds: each line is printed as one line without controls.
 */
export function renderSummary(summary: RunSummary, output: Output, maxAlertLines = 40): void {
  const out = (line: string) => output.out(oneLine(line));
  out(
    `certwatch sweep at ${summary.now}${summary.dryRun ? " (dry run: nothing written, nothing sent)" : ""}`,
  );
  out("");
  out("SOURCES");
  for (const report of summary.sources) {
    out(`  ${sourceLine(report)}`);
    for (const warning of report.warnings.slice(0, 5)) out(`    warning: ${warning}`);
    if (report.warnings.length > 5) out(`    ... and ${report.warnings.length - 5} more warnings`);
  }
  out("");
  const news = summary.alerts.filter((alert) => !alert.silencedBy);
  const held = [
    summary.silenced ? `${summary.silenced} silenced` : "",
    summary.acknowledged ? `${summary.acknowledged} reminders acknowledged` : "",
  ].filter(Boolean);
  out(`ALERTS (${[`${news.length} new`, ...held].join(", ")})`);
  if (news.length === 0) out("  nothing new since the last sweep");
  for (const alert of news.slice(0, maxAlertLines)) {
    const label = alert.transition === "resolved" ? "resolved" : alert.severity;
    const to = summary.dryRun ? "would go to" : "→";
    const receivers = alert.receivers.length > 0 ? `${to} ${alert.receivers.join(", ")}` : "(no receiver)";
    const domain = alert.domains[0] && alert.domains[0] !== alert.name ? alert.domains[0] : "";
    const [name, what] = [pad(fit(alert.name, SHOWN_CHARS), 22), fit(alert.summary, FACT_CHARS.when)];
    out(`  ${pad(label, 9)} ${name} ${pad(fit(domain, SHOWN_CHARS), 30)} ${what}  ${receivers}`);
  }
  if (news.length > maxAlertLines) out(`  ... and ${news.length - maxAlertLines} more (--json lists all)`);
  for (const preview of news.length > 0 ? (summary.previews ?? []) : []) {
    out("");
    out(`WOULD SEND TO ${preview.receiver}`);
    for (const line of preview.text.trimEnd().split("\n")) out(`  ${line}`);
  }
  if (summary.remediation) {
    const { jobs, waiting } = summary.remediation;
    out("");
    out(`REDEPLOYS (remediation.redeployFailedWorkers)${jobs.length === 0 ? ": none needed" : ""}`);
    for (const job of jobs) {
      const what = job.jobId ? `job ${job.jobId} ` : "";
      out(
        `  ${pad(job.source, 16)} job ${job.fromJob}: ${what}${job.outcome}${job.error ? `: ${job.error}` : ""}`,
      );
    }
    if (waiting > 0) out(`  ${waiting} more job(s) wait for the next run (maxJobsPerRun)`);
  }
  if (!summary.dryRun) {
    out("");
    out("DELIVERIES");
    if (summary.deliveries.length === 0) out("  no receivers configured");
    for (const delivery of summary.deliveries) {
      const parts = [
        `${delivery.sent} alerts sent in ${delivery.messages} message${delivery.messages === 1 ? "" : "s"}`,
      ];
      if (delivery.deferred) parts.push(`${delivery.deferred} kept for retry`);
      if (delivery.failed) parts.push(`${delivery.failed} FAILED`);
      out(`  ${pad(delivery.receiver, 16)} ${parts.join(", ")}`);
      for (const error of delivery.errors) out(`    ${error}`);
    }
    if (summary.heartbeat)
      out(`  heartbeat        ${summary.heartbeat.sent ? "sent" : summary.heartbeat.error}`);
  }
  if (summary.orphaned.length > 0) {
    out("");
    out("ORPHANED (waiting for a receiver the config no longer names)");
    for (const orphan of summary.orphaned) out(`  ${orphanAdvice(orphan)}`);
  }
}
