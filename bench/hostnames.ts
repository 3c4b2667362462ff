/**
 * The hostname index at scale (`npm run bench -- --hostnames N`, alone with `--hostnames-only`): what a first sweep
 * of N inventory certificates writes into it through `Hostnames.update`, what comparing N endpoints with the
 * inventory reads through `inventoryForEndpoints`, and what listing every name (`all()`) reads. Wall time, DynamoDB
 * units and this process's peak RSS per phase, against whatever store it is given (the bench's dynalite process).
 */
import { inventoryForEndpoints } from "../lib/cross-source.js";
import type { Observation } from "../lib/model/types.js";
import type { ObjectChange } from "../lib/store/hostnames.js";
import type { Store } from "../lib/store/store.js";

const MB = 1024 * 1024;
const DAY_MS = 86_400_000;
/** Certificates per zone: one wildcard (`*.zone` and the apex), its renewal, and eight exact names. */
const ZONE_SIZE = 10;

/**
 * The i-th inventory certificate, as a first sweep writes it. Per zone of ten: slot 0 covers `*.zK.bench.test` and
 * `zK.bench.test`; slot 1 is its renewal (the same names, 60 days later); slots 2–9 cover `sS.zK.bench.test`, the
 * even ones `www.sS.zK.bench.test` too: 1.6 names per certificate (a quarter of them wildcards or apexes), 1.4
 * distinct names.
 */
export function inventoryCertificate(index: number, now: Date): Observation {
  const zone = `z${Math.floor(index / ZONE_SIZE)}.bench.test`;
  const slot = index % ZONE_SIZE;
  const domains =
    slot < 2
      ? [`*.${zone}`, zone]
      : slot % 2 === 0
        ? [`s${slot}.${zone}`, `www.s${slot}.${zone}`]
        : [`s${slot}.${zone}`];
  const nativeId = `cert-${index}`;
  return {
    key: `bench-inventory/certificate/${nativeId}`,
    kind: "certificate",
    nativeId,
    name: `bench ${domains[0] ?? ""}`,
    domains,
    notBefore: new Date(now.getTime() - 30 * DAY_MS).toISOString(),
    notAfter: new Date(now.getTime() + (slot === 1 ? 120 : 60) * DAY_MS).toISOString(),
    status: "active",
    rawStatus: "ISSUED",
    labels: { source: "bench-inventory", provider: "huawei", product: "scm" },
  };
}

/**
 * The j-th endpoint as a probe recorded it. Per zone: slot 0 serves the apex (exact entry; no wildcard above it),
 * slot 1 `other.zK` (the wildcard only), slots 2–9 `sS.zK` (exact and wildcard). Every third serves the certificate
 * the inventory holds for it; the others an older one, so that the newest is a renewal not yet deployed.
 */
export function endpointObservation(index: number, now: Date): Observation {
  const zone = `z${Math.floor(index / ZONE_SIZE)}.bench.test`;
  const slot = index % ZONE_SIZE;
  const host = slot === 0 ? zone : slot === 1 ? `other.${zone}` : `s${slot}.${zone}`;
  const nativeId = `${host}:443`;
  return {
    key: `bench-edge/endpoint/${nativeId}`,
    kind: "endpoint",
    nativeId,
    name: nativeId,
    domains: [host],
    notBefore: new Date(now.getTime() - 60 * DAY_MS).toISOString(),
    notAfter: new Date(now.getTime() + (index % 3 === 0 ? 60 : 20) * DAY_MS).toISOString(),
    status: "active",
    rawStatus: "verified",
    details: { host, port: "443", serverName: host },
    labels: { source: "bench-edge", provider: "tls", product: "tls-endpoint" },
  };
}

/** Peak RSS and heap over one phase, sampled every 50 ms. */
class PhaseMemory {
  peakRss = 0;
  peakHeap = 0;
  private readonly timer = setInterval(() => this.sample(), 50);

  constructor() {
    this.sample();
  }

  sample(): void {
    const { rss, heapUsed } = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakHeap = Math.max(this.peakHeap, heapUsed);
  }

  stop(): { peakRssMB: number; peakHeapMB: number } {
    this.sample();
    clearInterval(this.timer);
    return { peakRssMB: this.peakRss / MB, peakHeapMB: this.peakHeap / MB };
  }
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** The store's process, when it has its own: its peak RSS so far and the CPU it has used. */
export interface StoreProcess {
  peakRssMB: () => number;
  cpuS: () => number;
}

async function phase<T>(store: Store, storeProcess: StoreProcess, run: () => Promise<T>) {
  gc();
  const before = { ...store.usage };
  const { rss: startRss, heapUsed: startHeap } = process.memoryUsage();
  const startRssMB = startRss / MB;
  const storeCpuBefore = storeProcess.cpuS();
  const cpuBefore = process.cpuUsage();
  const memory = new PhaseMemory();
  const started = process.hrtime.bigint();
  const value = await run();
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const peak = memory.stop();
  gc();
  return {
    value,
    wallS,
    writeUnits: store.usage.writeUnits - before.writeUnits,
    readUnits: store.usage.readUnits - before.readUnits,
    /** This process's CPU (user + system) over the phase, the database's excluded when it has its own process. */
    cpuS: (cpu.user + cpu.system) / 1e6,
    storeCpuS: storeProcess.cpuS() - storeCpuBefore,
    startRssMB,
    /** The heap after a full GC before the phase, its inputs built. */
    startHeapMB: startHeap / MB,
    ...peak,
    /** The heap after a full GC with what the phase returned still held. */
    liveHeapMB: process.memoryUsage().heapUsed / MB,
    storePeakRssMB: storeProcess.peakRssMB(),
  };
}

export async function hostnameIndexBench(
  store: Store,
  count: number,
  storeProcess: StoreProcess = { peakRssMB: () => 0, cpuS: () => 0 },
  now = new Date(),
) {
  // (1) A first sweep of `count` inventory certificates: one update with every change, as updateIndexes makes it.
  let names = 0;
  const changes: ObjectChange[] = Array.from({ length: count }, (_, index) => {
    const after = inventoryCertificate(index, now);
    names += after.domains.length;
    return { after };
  });
  const write = await phase(store, storeProcess, () => store.hostnames.update(changes));
  changes.length = 0;

  // (2) Every endpoint compared with the inventory, as a tls-endpoints sweep (or the report) does.
  const endpoints = Array.from({ length: count }, (_, index) => endpointObservation(index, now));
  const lookup = await phase(store, storeProcess, () => inventoryForEndpoints(endpoints, store));
  const views = lookup.value;
  const found = [...views.values()].filter((view) => view.newest).length;
  const knowsServed = [...views.values()].filter((view) => view.knowsServed).length;
  endpoints.length = 0;
  views.clear();

  // (3) Every name, as a source that probes the inventory's names lists them.
  const list = await phase(store, storeProcess, async () => {
    let listed = 0;
    let wildcards = 0;
    for await (const hostname of store.hostnames.all()) {
      listed++;
      if (hostname.startsWith("*.")) wildcards++;
    }
    return { listed, wildcards };
  });

  // (4) One certificate in a hundred gone (deleted after it ended), as a later sweep reports it: its names are
  // deleted, and each name left with no entry leaves the list of names, found by one query per name.
  const goneCount = Math.max(1, Math.floor(count / 100));
  let goneNames = 0;
  const goneChanges: ObjectChange[] = Array.from({ length: goneCount }, (_, step) => {
    // Every slot in turn: a wildcard's names stay listed (its renewal still covers them), an exact name's go.
    const before = inventoryCertificate(step * 100 + (step % ZONE_SIZE), now);
    goneNames += before.domains.length;
    return { before };
  });
  const gone = await phase(store, storeProcess, () => store.hostnames.update(goneChanges));

  const { value: _gone, ...goneFigures } = gone;
  const { value: _write, ...writeFigures } = write;
  const { value: _lookup, ...lookupFigures } = lookup;
  const { value: listed, ...listFigures } = list;
  return {
    certificates: count,
    names,
    write: writeFigures,
    lookup: {
      endpoints: count,
      found,
      knowsServed,
      perSecond: count / lookup.wallS,
      ...lookupFigures,
    },
    all: { ...listed, perSecond: listed.listed / list.wallS, ...listFigures },
    gone: { certificates: goneCount, names: goneNames, ...goneFigures },
  };
}

export function hostnameIndexLines(figures: Awaited<ReturnType<typeof hostnameIndexBench>>): string[] {
  const f1 = (value: number) => value.toFixed(1);
  const { write, lookup, all, gone } = figures;
  const cost = (p: typeof write) =>
    `CPU ${f1(p.cpuS)} s here, ${f1(p.storeCpuS)} s in the store; peak RSS ${f1(p.peakRssMB)} MB ` +
    `(${f1(p.startRssMB)} MB before; heap ${f1(p.startHeapMB)} MB before, ${f1(p.peakHeapMB)} MB at peak, ${f1(p.liveHeapMB)} MB live after); ` +
    `store peak RSS so far ${f1(p.storePeakRssMB)} MB`;
  return [
    `hostname index, ${figures.certificates} inventory certificates (${figures.names} names):`,
    `  update (first sweep): ${f1(write.wallS)} s, ${f1(write.writeUnits)} write units ` +
      `(${f1(write.writeUnits / write.wallS)}/s); ${cost(write)}`,
    `  inventoryForEndpoints: ${lookup.endpoints} endpoints in ${f1(lookup.wallS)} s, ${f1(lookup.perSecond)} look-ups/s, ` +
      `${f1(lookup.readUnits)} read units; ${lookup.found} with an inventory certificate, ${lookup.knowsServed} known ` +
      `as served; ${cost(lookup)}`,
    `  all(): ${all.listed} names (${all.wildcards} wildcards) in ${f1(all.wallS)} s, ${f1(all.readUnits)} read units; ` +
      cost(all),
    `  update (${gone.certificates} certificates gone, ${gone.names} names): ${f1(gone.wallS)} s, ` +
      `${f1(gone.writeUnits)} write units, ${f1(gone.readUnits)} read units; ${cost(gone)}`,
  ];
}
