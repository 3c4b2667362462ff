/**
 * One sweep in a fresh process, as one Lambda sweep worker runs it: the real pipeline (runSweep) against a store in
 * another process, so that this process's peak RSS is certwatch's alone. Forked by bench/one-source.ts with a
 * SweepJob as its argument; answers one SweepFigures message and exits.
 */
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
import { runSweep } from "../lib/sweep.js";
import { MB, MemoryProbe } from "./common.js";

export interface SweepJob {
  /** A certwatch config; its `store` is ignored: the sweep uses the store at `endpoint`. */
  configYaml: string;
  endpoint: string;
  table: string;
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
  const started = performance.now();
  const summary = await runSweep({
    config,
    store,
    http,
    now: new Date(),
    onProgress: (unit, { objects }) => {
      if (objects === (seen.get(unit) ?? 0)) return;
      seen.set(unit, objects);
      probe.objects = [...seen.values()].reduce((sum, n) => sum + n, 0);
      lastObservation = performance.now();
      firstObservation ??= lastObservation;
    },
  });
  const ended = performance.now();
  probe.sample();
  probe.sampleLive();
  probe.stop();
  await http.close();
  store.close();
  const sum = (from: number) =>
    writes.intervals.reduce((total, [start, end]) => total + Math.max(0, end - Math.max(start, from)), 0);
  return {
    wallS: (ended - started) / 1000,
    firstObservationS: ((firstObservation ?? started) - started) / 1000,
    listingS: (lastObservation - started) / 1000,
    writesBusyS: sum(started) / 1000,
    writesAfterListingS: sum(lastObservation) / 1000,
    writeUnits: store.usage.writeUnits,
    readUnits: store.usage.readUnits,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    peakHeapMB: probe.peakHeap / MB,
    peakLiveHeapMB: probe.peakLiveHeap / MB,
    heapKBPer1000Objects: probe.heapSlope(),
    alerts: summary.alerts.length,
    exitCode: summary.exitCode,
    units: summary.sources.map(({ name, ok, error, warnings, objects, calls, throttled }) => ({
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
