/** What the bench's cases share: the store in its own process, the memory sampler, the bound, number formats. */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type OpenedStore, openStore } from "../lib/store/open.js";
import { Store } from "../lib/store/store.js";

export const MB = 1024 * 1024;

/** Peak RSS sampled every 100 ms, and (objects seen, heap) pairs to tell whether memory grows with pages. */
export class MemoryProbe {
  peak = 0;
  peakHeap = 0;
  /** The heap's peak right after a full collection: what the process really holds, garbage aside. */
  peakLiveHeap = 0;
  peakExternal = 0;
  objects = 0;
  samples: { objects: number; heapMB: number; rssMB: number }[] = [];
  private readonly timer = setInterval(() => this.sample(), 100);
  private readonly liveTimer?: NodeJS.Timeout;

  /** `liveEveryMs`: collect fully that often (needs `--expose-gc`) to read the live heap; a pause each time. */
  constructor(liveEveryMs?: number) {
    if (liveEveryMs && global.gc) this.liveTimer = setInterval(() => this.sampleLive(), liveEveryMs);
  }

  sampleLive(): void {
    global.gc?.();
    this.peakLiveHeap = Math.max(this.peakLiveHeap, process.memoryUsage().heapUsed);
  }

  sample(): void {
    const { rss, heapUsed, external } = process.memoryUsage();
    this.peak = Math.max(this.peak, rss);
    this.peakHeap = Math.max(this.peakHeap, heapUsed);
    this.peakExternal = Math.max(this.peakExternal, external);
    this.samples.push({ objects: this.objects, heapMB: heapUsed / MB, rssMB: rss / MB });
  }

  /** Starts a phase: peak and samples from here on. */
  reset(): void {
    this.peak = 0;
    this.peakHeap = 0;
    this.peakExternal = 0;
    this.objects = 0;
    this.samples = [];
  }

  /** Least-squares slope of heap against objects seen, in KB per 1,000 objects. */
  heapSlope(): number {
    const points = this.samples.filter((s) => s.objects > 0);
    const n = points.length;
    if (n < 2) return 0;
    const mx = points.reduce((sum, p) => sum + p.objects, 0) / n;
    const my = points.reduce((sum, p) => sum + p.heapMB, 0) / n;
    const sxy = points.reduce((sum, p) => sum + (p.objects - mx) * (p.heapMB - my), 0);
    const sxx = points.reduce((sum, p) => sum + (p.objects - mx) ** 2, 0);
    return sxx === 0 ? 0 : (sxy / sxx) * 1024 * 1000;
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.liveTimer);
  }
}

/**
 * dynalite in a child process, or in this one as the CLI's embedded store runs it (`inProcess`, the bench's
 * --in-process-store). `peakRssMB` reads the child's high-water mark from /proc (Linux); `endpoint` is the child's,
 * for other processes to reach the same store.
 */
export async function startStore(
  path: string,
  table: string,
  inProcess = false,
): Promise<OpenedStore & { endpoint?: string; peakRssMB: () => number; cpuS: () => number }> {
  if (inProcess) {
    const opened = await openStore({ type: "embedded", path, table, historyDays: 90 }, { dryRun: false });
    return { ...opened, peakRssMB: () => 0, cpuS: () => 0 };
  }
  const script = join(dirname(fileURLToPath(import.meta.url)), "dynalite-process.js");
  const child = spawn(process.execPath, [script, path], { stdio: ["pipe", "pipe", "inherit"] });
  const [chunk] = (await once(child.stdout, "data")) as [Buffer];
  const endpoint = chunk.toString().trim();
  const store = new Store({ table, endpoint, historyDays: 90 });
  await store.ensureTable();
  return {
    store,
    embedded: true,
    endpoint,
    peakRssMB: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    },
    // utime + stime, in clock ticks (100 a second on Linux), after the command name, which may hold spaces.
    cpuS: () => {
      const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    close: async () => {
      store.close();
      child.stdin.end();
      await once(child, "exit");
    },
  };
}

/** The clients' default in-flight calls per credential (lib/sources/*\/client.ts); the bench's configs set none. */
export const CONCURRENCY = 4;

/** The least time `calls` can take: paced by the account's QPS, or by latency over the allowed concurrency. */
export const boundSeconds = (calls: number, qps: number, latencyMs: number) =>
  Math.max(calls / qps, (calls * latencyMs) / CONCURRENCY / 1000);

export const pad = (value: string | number, width: number) => String(value).padStart(width);
export const fixed = (value: number, digits = 1) => value.toFixed(digits);
