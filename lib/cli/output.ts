import { fit, oneLine } from "../model/text.js";
import { FACT_CHARS } from "../notify/digest.js";
import { orphanAdvice } from "../notify/route.js";
import { PREVIEW_ALERTS, type Preview, type RunSummary } from "../sweep.js";
import type { SourceReport, SweepProgress } from "../sweep-source.js";

/** A block of live lines on a terminal, redrawn in place. */
export interface LiveStatus {
  /** Replaces the block drawn last with these lines; no lines clears it. */
  draw(lines: string[]): void;
  /**
   * The terminal's size now. A line as wide as the terminal wraps onto a second row, and a block taller than it
   * scrolls away: either way a redraw would miss rows and leave stale copies behind.
   */
  size(): { columns: number; rows: number };
}

/** Where human output goes; tests pass their own to read it. */
export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
  isTTY: boolean;
  /** Live status lines, only when stderr is a terminal. */
  status?: LiveStatus;
}

/**
 * Writes to stdout or stderr until its reader goes away (`certwatch report | head -3`). From then on nothing more is
 * written to it, quietly, and the command runs to its end and exits as it would have: a sweep piped into `head`
 * still stores and delivers what it found.
 */
function untilClosed(stream: NodeJS.WriteStream): (text: string) => void {
  let closed = false;
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    closed = true;
  });
  return (text) => {
    if (!closed) stream.write(text);
  };
}

/**
 * What redraws a block of `previous` lines as `lines`: back to the start of the block's first row, erase from there
 * to the end of the screen, then the new lines. Each line must fit within the terminal's width (see LiveStatus).
 */
export function redrawBlock(previous: number, lines: string[]): string {
  const up = previous > 0 ? `\x1b[${previous}A` : "";
  return `\r${up}\x1b[J${lines.map((line) => `${line}\n`).join("")}`;
}

function terminalStatus(stream: NodeJS.WriteStream, write: (text: string) => void): LiveStatus {
  let drawn = 0;
  return {
    draw(lines) {
      if (drawn === 0 && lines.length === 0) return;
      write(redrawBlock(drawn, lines));
      drawn = lines.length;
    },
    size: () => ({ columns: stream.columns || 80, rows: stream.rows || 24 }),
  };
}

let stdout: ((text: string) => void) | undefined;
let stderr: ((text: string) => void) | undefined;
// Set up on first use, so that importing this module changes nothing on the process's streams.
const toStdout = (text: string) => (stdout ??= untilClosed(process.stdout))(text);
const toStderr = (text: string) => (stderr ??= untilClosed(process.stderr))(text);

export const processOutput: Output = {
  out: (line) => toStdout(`${line}\n`),
  err: (line) => toStderr(`${line}\n`),
  isTTY: Boolean(process.stdout.isTTY),
  status: process.stderr.isTTY ? terminalStatus(process.stderr, toStderr) : undefined,
};

/** One source being swept, as its progress line shows it. */
export interface RunningSource {
  name: string;
  progress: SweepProgress;
  elapsedMs: number;
}

/** The widest a name column gets before a long name is cut instead. */
const PROGRESS_NAME_CHARS = 24;

function thousands(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * The live block: one line per source being swept (objects seen, of the total once the listing has told it; calls;
 * throttled calls; time so far). Every line stays under the terminal's width and the block under its height, the
 * sources beyond it counted on a last line, so that the block can be redrawn in place without leaving anything behind.
 */
export function progressLines(sources: RunningSource[], size: { columns: number; rows: number }): string[] {
  const width = Math.max(size.columns - 1, 1);
  const room = Math.max(size.rows - 1, 1);
  const shown = sources.length > room ? sources.slice(0, room - 1) : sources;
  const nameWidth = Math.min(Math.max(0, ...shown.map((source) => source.name.length)), PROGRESS_NAME_CHARS);
  const lines = shown.map(({ name, progress, elapsedMs }) => {
    const of = progress.total !== undefined ? ` of ${thousands(progress.total)}` : "";
    const parts = [
      pad(fit(oneLine(name), nameWidth), nameWidth),
      `${thousands(progress.objects)}${of} objects`,
      `${thousands(progress.calls)} calls`,
      ...(progress.throttled > 0 ? [`${thousands(progress.throttled)} throttled`] : []),
      `${Math.floor(elapsedMs / 1000)}s`,
    ];
    return fit(parts.join("  "), width);
  });
  const hidden = sources.length - shown.length;
  if (hidden > 0) lines.push(fit(`... and ${hidden} more sources`, width));
  return lines;
}

/** How often the block is redrawn while nothing arrives, so that the elapsed times keep moving. */
const TICK_MS = 1_000;

/**
 * The live block for the sources being swept, redrawn at most every `intervalMs`, and whenever a source starts or
 * learns its total: a sweep streams thousands of objects, a terminal needs a few updates a second.
 */
export function liveProgress(status: LiveStatus, intervalMs = 100) {
  const running = new Map<string, { progress: SweepProgress; startedAt: number }>();
  let drawnAt = 0;
  let ticker: NodeJS.Timeout | undefined;
  const draw = () => {
    drawnAt = Date.now();
    const sources = [...running].map(([name, { progress, startedAt }]) => ({
      name,
      progress,
      elapsedMs: drawnAt - startedAt,
    }));
    status.draw(progressLines(sources, status.size()));
  };
  const stop = () => {
    clearInterval(ticker);
    ticker = undefined;
    status.draw([]);
  };
  return {
    update(source: string, progress: SweepProgress): void {
      const known = running.get(source);
      running.set(source, { progress, startedAt: known?.startedAt ?? Date.now() });
      ticker ??= setInterval(draw, TICK_MS).unref();
      const totalChanged = known?.progress.total !== progress.total;
      if (!known || totalChanged || Date.now() - drawnAt >= intervalMs) draw();
    },
    /** Clears the block so that a finished source's line prints cleanly, then redraws the others. */
    done(source: string, print: () => void): void {
      running.delete(source);
      status.draw([]);
      print();
      if (running.size > 0) draw();
      else stop();
    },
    /** Clears the block and stops redrawing: for a run that ends early. */
    stop,
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
  const line = `${head} ${counts}  ${calls}  ${seconds(report.durationMs)}`;
  if (!report.continues) return line;
  return `${line}; interrupted after part ${report.continues.part} of a sweep in parts: its place is saved, and the next \`certwatch sweep\` continues from there`;
}

function plural(n: number, noun: string): string {
  return `${thousands(n)} ${noun}${n === 1 ? "" : "s"}`;
}

/** A body as sent, JSON laid out over lines to be read. */
function readableBody(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/**
 * What a dry run would send one receiver: its first alerts as a person reads the message; with `verbose`, the body of
 * every message as sent.
 */
function previewLines(preview: Preview, verbose: boolean): string[] {
  if (preview.alerts === 0) return [`WOULD SEND TO ${preview.receiver}: nothing, no alert is routed to it`];
  const hidden = Math.max(0, preview.alerts - PREVIEW_ALERTS);
  const size = `${plural(preview.alerts, "alert")} in ${plural(preview.messages, "message")}`;
  const first = hidden > 0 ? `; the first ${PREVIEW_ALERTS}, as a message of them reads` : "";
  const lines = [
    `WOULD SEND TO ${preview.receiver}: ${size}${first}`,
    ...preview.text
      .trimEnd()
      .split("\n")
      .map((line) => `  ${line}`),
  ];
  if (hidden > 0)
    lines.push(`  ... and ${plural(hidden, "more alert")} (--verbose prints every message as sent)`);
  if (verbose) {
    preview.payloads.forEach((body, index) => {
      lines.push("", `  message ${index + 1} of ${preview.messages}, as sent:`);
      lines.push(
        ...readableBody(body)
          .split("\n")
          .map((line) => `    ${line}`),
      );
    });
  }
  return lines;
}

/**
 * A short report a person reads after a sweep: sources, what is news, where it went. Names, errors and previews
 * come from the clouds: each line is printed as one line without controls. `verbose`: a dry run prints the body of
 * every message it would send.
 */
export function renderSummary(
  summary: RunSummary,
  output: Output,
  maxAlertLines = 40,
  { verbose = false } = {},
): void {
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
    for (const line of previewLines(preview, verbose)) out(line);
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
