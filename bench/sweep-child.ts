/**
 * One sweep in a fresh process, against a store in another process, so that this process's peak RSS is certwatch's
 * alone. `worker`: what one Lambda sweep worker runs (sweepSources: collect, judge, record news, write), then, timed
 * apart, the delivery the notify function makes of that news (deliverAll); `cli`: one CLI run (runSweep), which
 * does both in one go. Forked by bench/one-source.ts with a SweepJob as its argument; answers one SweepFigures
 * message and exits.
 */
import { randomUUID } from "node:crypto";
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { parseConfig } from "../lib/config/load.js";
import { HttpClient } from "../lib/sources/http.js";
import { Store } from "../lib/store/store.js";
import { deliverAll, runSweep } from "../lib/sweep.js";
import { type SourceReport, type SweepProgress, sweepSources } from "../lib/sweep-source.js";
import type { LedgerEntry } from "../lib/store/ledger.js";
import { MB, MemoryProbe } from "./common.js";

export interface SweepJob {
  /** A certwatch config; its `store` is ignored: the sweep uses the store at `endpoint`. */
  configYaml: string;
  endpoint: string;
  table: string;
  runs: "worker" | "cli";
}

export interface SweepFigures {
  wallS: number;
  /** From the start until the first observation came in: reading the stored inventory, the first page. */
  firstObservationS: number;
  /** From the start until the last observation came in. */
  listingS: number;
  /** Time with at least one store write in flight, all of it and the part after the last observation. */
  writesBusyS: number;
  writesAfterListingS: number;
  writeUnits: number;
  readUnits: number;
  /** `process.resourceUsage().maxRSS` at the end. */
  peakRssMB: number;
  /** Sampled every 100 ms. */
  peakHeapMB: number;
  /** The heap's peak after a full collection, sampled every 5 s and at the end. */
  peakLiveHeapMB: number;
  heapKBPer1000Objects: number;
  alerts: number;
  exitCode: number;
  /** `worker` only: the delivery of the sweep's news, as notify makes it, after the sweep; not in `wallS`. */
  delivery?: { wallS: number; writesBusyS: number; writeUnits: number; messages: number };
  units: {
    name: string;
    ok: boolean;
    error?: string;
    warnings: string[];
    objects: number;
    calls: number;
    throttled: number;
  }[];
}

const WRITES = [PutCommand, UpdateCommand, DeleteCommand, BatchWriteCommand, TransactWriteCommand];

/**
 * Records the intervals in which at least one write is in flight, by wrapping the document client's `send`, which
 * every store write goes through (lib/store/client.ts).
 */
function watchWrites(): { intervals: [number, number][] } {
  const watched = { intervals: [] as [number, number][] };
  let inFlight = 0;
  let since = 0;
  const prototype = DynamoDBDocumentClient.prototype as unknown as {
    send: (command: unknown, ...rest: unknown[]) => Promise<unknown>;
  };
  const send = prototype.send;
  prototype.send = async function (this: unknown, command: unknown, ...rest: unknown[]) {
    if (!WRITES.some((kind) => command instanceof kind)) return send.call(this, command, ...rest);
    if (inFlight++ === 0) since = performance.now();
    try {
      return await send.call(this, command, ...rest);
    } finally {
      if (--inFlight === 0) watched.intervals.push([since, performance.now()]);
    }
  };
  return watched;
}

async function sweep(job: SweepJob): Promise<SweepFigures> {
  const writes = watchWrites();
  const config = await parseConfig(job.configYaml, "(bench config)");
  const store = new Store({ table: job.table, endpoint: job.endpoint, historyDays: 90 });
  await store.ensureTable();
  const http = new HttpClient();
  // A full collection every 5 s: the live heap is what a sweep needs; the peak heap also holds garbage.
  const probe = new MemoryProbe(5_000);
  const seen = new Map<string, number>();
  let firstObservation: number | undefined;
  let lastObservation = 0;
  const options = {
    config,
    store,
    http,
    now: new Date(),
    onProgress: (unit: string, { objects }: SweepProgress) => {
      if (objects === (seen.get(unit) ?? 0)) return;
      seen.set(unit, objects);
      probe.objects = [...seen.values()].reduce((sum, n) => sum + n, 0);
      lastObservation = performance.now();
      firstObservation ??= lastObservation;
    },
  };
  const started = performance.now();
  let reports: SourceReport[];
  let alerts: number;
  let exitCode: number;
  let recorded: LedgerEntry[] = [];
  if (job.runs === "worker") {
    // As functions/sweep.ts calls it, one unit per message.
    const runId = randomUUID();
    const outcomes = await sweepSources({ ...options, earlierRun: "fail-source" }, runId, config.sources);
    reports = outcomes.map((outcome) => outcome.report);
    alerts = outcomes.reduce((sum, outcome) => sum + outcome.alerts.length, 0);
    recorded = outcomes.flatMap((outcome) => outcome.recorded);
    exitCode = reports.every((report) => report.ok) ? 0 : 1;
  } else {
    const summary = await runSweep(options);
    reports = summary.sources;
    alerts = summary.alerts.length;
    exitCode = summary.exitCode;
  }
  const ended = performance.now();
  probe.sample();
  probe.sampleLive();
  probe.stop();
  const sum = (from: number, to = Number.POSITIVE_INFINITY) =>
    writes.intervals.reduce(
      (total, [start, end]) => total + Math.max(0, Math.min(end, to) - Math.max(start, from)),
      0,
    );
  const figures = {
    wallS: (ended - started) / 1000,
    firstObservationS: ((firstObservation ?? started) - started) / 1000,
    listingS: (lastObservation - started) / 1000,
    writesBusyS: sum(started, ended) / 1000,
    writesAfterListingS: sum(lastObservation, ended) / 1000,
    writeUnits: store.usage.writeUnits,
    readUnits: store.usage.readUnits,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    peakHeapMB: probe.peakHeap / MB,
    peakLiveHeapMB: probe.peakLiveHeap / MB,
    heapKBPer1000Objects: probe.heapSlope(),
  };
  let delivery: SweepFigures["delivery"];
  if (job.runs === "worker") {
    const sweptUnits = store.usage.writeUnits;
    const deliveryStarted = performance.now();
    const deliveries = await deliverAll(options, randomUUID(), recorded);
    delivery = {
      wallS: (performance.now() - deliveryStarted) / 1000,
      writesBusyS: sum(deliveryStarted) / 1000,
      writeUnits: store.usage.writeUnits - sweptUnits,
      messages: deliveries.reduce((total, report) => total + report.messages, 0),
    };
  }
  await http.close();
  store.close();
  return {
    ...figures,
    alerts,
    exitCode,
    delivery,
    units: reports.map(({ name, ok, error, warnings, objects, calls, throttled }) => ({
      name,
      ok,
      error,
      warnings,
      objects,
      calls,
      throttled,
    })),
  };
}

const figures = await sweep(JSON.parse(process.argv[2] ?? "{}") as SweepJob);
// Exits once the answer is sent, whatever handles (sockets kept alive) might still hold the process.
process.send?.(figures, () => process.exit(0));
