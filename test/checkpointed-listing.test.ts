import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { SourceConfig } from "../lib/config/schema.js";
import type { Observation } from "../lib/model/types.js";
import { aliyunClientCertificates } from "../lib/sources/aliyun/client-certificates.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { huaweiScm } from "../lib/sources/huawei/scm.js";
import { type NumberedPlace, numberedPages } from "../lib/sources/paging.js";
import type { CollectContext, ListingPlace, SourceDriver } from "../lib/sources/types.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { type ClientCertificateRecord, clientCertificateFleet } from "../sim/aliyun-fleet.js";
import { type ScmCertificate, scmFleet } from "../sim/fleet.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import type { SimServer } from "../sim/server.js";
import { KEYS } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const ALIYUN_KEYS = { accessKey: "LTAI5tTESTACCESSKEY00", secretKey: "aliyun-test-secret-1234" };
/** The listings' page size: SCM's largest page, and CAS's as certwatch asks for it. */
const PAGE_SIZE = 50;

/** What the sweep's callback throws when its part's time is up. */
class PartOver extends Error {}

interface Part {
  keys: string[];
  observations: Observation[];
  /** Where the next part resumes; absent once the walk finished. */
  place?: ListingPlace;
  /** Every place the part was told, in order. */
  places: ListingPlace[];
}

async function sourceOf<T extends SourceConfig["type"]>(
  type: T,
  endpoint: string,
  extra: string[] = [],
): Promise<Extract<SourceConfig, { type: T }>> {
  const credentials = type === "huawei-scm" ? KEYS : ALIYUN_KEYS;
  const yaml = [
    "sources:",
    "  - name: big",
    `    type: ${type}`,
    `    endpoint: ${endpoint}`,
    `    credentials: { accessKey: ${credentials.accessKey}, secretKey: ${credentials.secretKey} }`,
    "    qps: 200",
    "    timeout: 5s",
    ...extra.map((line) => `    ${line}`),
    // Never sent to: the config loads only with a receiver.
    `receivers: [{ name: ops, type: slack, webhookUrl: "http://127.0.0.1:9/services/T/B/unused" }]`,
  ].join("\n");
  return (await parseConfig(yaml, "test.yml")).sources[0] as Extract<SourceConfig, { type: T }>;
}

/**
 * One part of a sweep: collects until `reached` is told a place at or past page `stopAt`, which it saves and ends
 * the part by throwing, as the sweep does when its part's time is up.
 */
async function collectPart<T extends SourceConfig["type"]>(
  driver: SourceDriver<T>,
  source: Extract<SourceConfig, { type: T }>,
  context: Omit<CollectContext, "reached" | "resumeFrom">,
  resumeFrom: ListingPlace | undefined,
  stopAt: number,
): Promise<Part> {
  const part: Part = { keys: [], observations: [], places: [] };
  const reached = (place: ListingPlace) => {
    part.places.push(place);
    if (Number(place.page) >= stopAt) {
      part.place = place;
      throw new PartOver(`part over at page ${place.page}`);
    }
  };
  try {
    for await (const observation of driver.collect(source, { ...context, resumeFrom, reached })) {
      part.observations.push(observation);
      part.keys.push(observation.key);
    }
  } catch (error) {
    if (!(error instanceof PartOver)) throw error;
  }
  return part;
}

/** The sweep in three parts, each stopping about a third further into `pages` pages. */
async function threeParts<T extends SourceConfig["type"]>(
  driver: SourceDriver<T>,
  source: Extract<SourceConfig, { type: T }>,
  context: Omit<CollectContext, "reached" | "resumeFrom">,
  pages: number,
  between: (part: number) => void = () => undefined,
): Promise<Part[]> {
  const parts: Part[] = [];
  let place: ListingPlace | undefined;
  for (const stopAt of [Math.ceil(pages / 3), Math.ceil((2 * pages) / 3), Number.POSITIVE_INFINITY]) {
    if (parts.length > 0) {
      expect(place, `part ${parts.length} ended without a place to resume from`).toBeDefined();
      between(parts.length);
    }
    const part = await collectPart(driver, source, context, place, stopAt);
    parts.push(part);
    place = part.place;
  }
  expect(place, "the last part finished the walk").toBeUndefined();
  return parts;
}

function contextOf(http: HttpClient, unsettled: string[], warnings: string[] = []) {
  return {
    http,
    stats: newCallStats(),
    previous: new Map(),
    warn: (message: string) => warnings.push(message),
    unsettled: (reason: string) => unsettled.push(reason),
  };
}

const servers: SimServer[] = [];
const http = new HttpClient();
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe("a numbered walk in parts", () => {
  type Item = { id: string };
  const items = (from: number, to: number): Item[] =>
    Array.from({ length: to - from + 1 }, (_, index) => ({ id: `i${from + index}` }));

  function walk(listing: () => Item[], resume?: NumberedPlace, stopAt = Number.POSITIVE_INFINITY) {
    const unsettled: string[] = [];
    let place: NumberedPlace | undefined;
    const pages = numberedPages<Item>({
      call: "ListThings",
      pageSize: 2,
      concurrency: 2,
      maxPages: 100,
      resume,
      unsettled: (reason) => unsettled.push(reason),
      reached: (next) => {
        if (next.page < stopAt) return;
        place = next;
        throw new PartOver();
      },
      idOf: (item) => item.id,
      fetch: async (page) => ({ items: listing().slice((page - 1) * 2, page * 2), total: listing().length }),
    });
    return {
      unsettled,
      place: () => place,
      ids: async () => {
        const ids: string[] = [];
        try {
          for await (const page of pages) ids.push(...page.map((item) => item.id));
        } catch (error) {
          if (!(error instanceof PartOver)) throw error;
        }
        return ids;
      },
    };
  }

  it("is told the next page after each page but the last, and resumes there, counting what earlier parts served", async () => {
    const listing = items(1, 7);
    const first = walk(() => listing, undefined, 3);
    expect(await first.ids()).toEqual(["i1", "i2", "i3", "i4"]);
    expect(first.place()).toEqual({ page: 3, served: 4, total: 7 });
    const rest = walk(() => listing, first.place());
    expect(await rest.ids()).toEqual(["i5", "i6", "i7"]);
    expect(rest.unsettled).toEqual([]);
  });

  it("fails a resumed walk that comes up short, counting the earlier parts", async () => {
    const listing = items(1, 7);
    await expect(walk(() => listing, { page: 3, served: 3, total: 7 }).ids()).rejects.toThrow(
      "ListThings: listed 6 distinct entries of 7 (3 of them in earlier parts of the sweep)",
    );
  });

  it("takes a listing that shrank below the place between parts as unsettled, with nothing left to walk", async () => {
    const shrunk = walk(() => items(1, 3), { page: 4, served: 6, total: 8 });
    expect(await shrunk.ids()).toEqual([]);
    expect(shrunk.unsettled).toEqual([
      "ListThings: the total moved from 8 to 3 between parts of the sweep (page 4); entries may have been stepped " +
        "over or served twice",
    ]);
  });

  it("carries a listing that moved in an earlier part forward, so that a later part does not count", async () => {
    const listing = items(1, 7);
    const moved = walk(() => listing, { page: 2, served: 2, total: 8 }, 3);
    await moved.ids();
    expect(moved.place()).toEqual({ page: 3, served: 4, total: 7, moved: true });
    // Fewer entries than the total, after a part in which the listing moved: no failure, and nothing told again.
    const last = walk(() => listing, { page: 3, served: 3, total: 7, moved: true });
    expect(await last.ids()).toEqual(["i5", "i6", "i7"]);
    expect(last.unsettled).toEqual([]);
  });
});

describe("Huawei SCM in parts, over its simulator", () => {
  async function scm(certificates: ScmCertificate[]) {
    const sim = scmSimulator({ certificates, credentials: KEYS, clock: () => NOW.getTime() });
    servers.push(sim);
    return sourceOf("huawei-scm", await sim.listen());
  }

  it("three parts of a 2,500-certificate listing serve every certificate exactly once, and nothing is unsettled", async () => {
    const certificates = scmFleet({ count: 2_500, now: NOW, seed: 7 });
    const source = await scm(certificates);
    const unsettled: string[] = [];
    const parts = await threeParts(huaweiScm, source, contextOf(http, unsettled), 2_500 / PAGE_SIZE);
    const keys = parts.flatMap((part) => part.keys);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.sort()).toEqual(certificates.map((c) => `big/certificate/${c.id}`).sort());
    expect(parts.map((part) => part.place?.page)).toEqual([17, 34, undefined]);
    // Each part ends at a page boundary: the observations before the place are whole pages.
    expect(parts.map((part) => part.keys.length)).toEqual([16 * 50, 17 * 50, 17 * 50]);
    expect(unsettled).toEqual([]);
  });

  it("a listing that grows between parts is told unsettled, and the walk still goes to its new last page", async () => {
    const grown = scmFleet({ count: 2_560, now: NOW, seed: 7 });
    const certificates = grown.slice(0, 2_500);
    const source = await scm(certificates);
    const unsettled: string[] = [];
    const parts = await threeParts(
      huaweiScm,
      source,
      contextOf(http, unsettled),
      2_500 / PAGE_SIZE,
      (done) => {
        if (done === 1) certificates.push(...grown.slice(2_500));
      },
    );
    expect(unsettled).toEqual([
      "ListCertificates: the total moved from 2500 to 2560 between parts of the sweep (page 17); entries may have " +
        "been stepped over or served twice",
    ]);
    // The new total's 52 pages were all walked: 16 of the old listing, then 36 of the new one.
    expect(parts.flatMap((part) => part.keys).length).toBe(2_560);
    expect(parts[1]?.place).toMatchObject({ total: 2_560, moved: true });
  });
});

describe("Alibaba CAS client certificates in parts, over its simulator", () => {
  const STATUS_CALL = "DescribeClientCertificateStatus";

  async function cas(clientCertificates: ClientCertificateRecord[], extra: string[] = []) {
    const sim = new CasSimulator({ credentials: ALIYUN_KEYS, clientCertificates, now: NOW });
    servers.push(sim);
    return { sim, source: await sourceOf("aliyun-client-certificates", await sim.listen(), extra) };
  }

  it("three parts serve every certificate once, each with its status, with no more status calls than one walk", async () => {
    const certificates = clientCertificateFleet({ count: 2_500, now: NOW });
    // A batch that does not divide the page: only every third page end (150 certificates, 5 batches) is a place.
    const { sim, source } = await cas(certificates, ["statusBatchSize: 30"]);
    const unsettled: string[] = [];
    const warnings: string[] = [];
    const parts = await threeParts(
      aliyunClientCertificates,
      source,
      contextOf(http, unsettled, warnings),
      2_500 / PAGE_SIZE,
    );
    const observations = parts.flatMap((part) => part.observations);
    const keys = observations.map((observation) => observation.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.sort()).toEqual(certificates.map((c) => `big/client-certificate/${c.Identifier}`).sort());
    expect(parts.flatMap((part) => part.places).every((place) => (Number(place.page) - 1) % 3 === 0)).toBe(
      true,
    );
    expect(parts.map((part) => part.place?.page)).toEqual([19, 34, undefined]);
    // Every certificate before a place was described: the state each shows is the status call's.
    const revocation = new Map(certificates.map((c) => [c.Identifier, c.revocation.Status]));
    for (const observation of observations) {
      expect(observation.status, observation.nativeId).toBe(
        revocation.get(observation.nativeId) === "revoked" ? "revoked" : "active",
      );
    }
    expect(warnings.filter((warning) => warning.includes("no status was returned"))).toEqual([]);
    expect(sim.callsOf(STATUS_CALL)).toBe(Math.ceil(2_500 / 30));
    expect(unsettled).toEqual([]);
  });

  it("a listing that grows between parts is told unsettled, and the walk still goes to its new last page", async () => {
    const grown = clientCertificateFleet({ count: 2_540, now: NOW });
    const certificates = grown.slice(0, 2_500);
    const { source } = await cas(certificates);
    const unsettled: string[] = [];
    const parts = await threeParts(
      aliyunClientCertificates,
      source,
      contextOf(http, unsettled),
      2_500 / PAGE_SIZE,
      (done) => {
        if (done === 1) certificates.push(...grown.slice(2_500));
      },
    );
    expect(unsettled).toEqual([
      "ListClientCertificate: the total moved from 2500 to 2540 between parts of the sweep (page 17); entries may " +
        "have been stepped over or served twice",
    ]);
    // The contract states no order, so entries may have been stepped over or served twice; but the new total's 51
    // pages were all walked: 16 of the old listing, then 35 of the new one.
    const keys = parts.flatMap((part) => part.keys);
    expect(keys.length).toBe(2_540);
    const inventory = new Set(grown.map((c) => `big/client-certificate/${c.Identifier}`));
    expect(keys.filter((key) => !inventory.has(key))).toEqual([]);
  });
});
