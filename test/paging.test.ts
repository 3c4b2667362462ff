import { describe, expect, it } from "vitest";
import { classifyAliyunError } from "../lib/sources/aliyun/client.js";
import { SweepLimitError } from "../lib/sources/http.js";
import {
  type MarkerPagesOptions,
  markerPages,
  numberedPages,
  type WalkRules,
} from "../lib/sources/paging.js";

type Item = { id: string };

/** Serves `pages` (1-based) as a listing with `total`, the way a numbered-page API does. */
function listing(
  pages: Item[][],
  total: number | ((page: number) => number),
  rules: Partial<WalkRules> & { asked?: number[] } = {},
) {
  return numberedPages<Item>({
    call: "ListThings",
    pageSize: 2,
    concurrency: 2,
    maxPages: 100,
    ...rules,
    idOf: (item) => item.id,
    fetch: async (page) => {
      rules.asked?.push(page);
      return { items: pages[page - 1] ?? [], total: typeof total === "number" ? total : total(page) };
    },
  });
}

async function drain(pages: AsyncGenerator<Item[]>): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of pages) ids.push(...page.map((item) => item.id));
  return ids;
}

const a = { id: "a" };
const b = { id: "b" };
const c = { id: "c" };

describe("numbered-page walker", () => {
  it("walks every page once, in order", async () => {
    expect(await drain(listing([[a, b], [c]], 3))).toEqual(["a", "b", "c"]);
    expect(await drain(listing([[]], 0))).toEqual([]);
  });

  it("refuses a page larger than asked for", async () => {
    await expect(drain(listing([[a, b, c]], 3))).rejects.toThrow(
      "ListThings returned a malformed page: page 1 has 3 entries, more than the 2 asked for",
    );
  });

  it("refuses a page that only repeats an earlier one", async () => {
    await expect(
      drain(
        listing(
          [
            [a, b],
            [a, b],
          ],
          4,
        ),
      ),
    ).rejects.toThrow("ListThings returned a malformed page: page 2 repeats entries of an earlier page");
  });

  it("refuses a listing whose total moves while paging", async () => {
    await expect(drain(listing([[a, b], [c]], (page) => (page === 1 ? 3 : 4)))).rejects.toThrow(
      "ListThings: the total moved from 3 to 4 while paging (page 2); nothing stored was changed",
    );
  });

  it("refuses an empty page before the total was reached, naming it", async () => {
    await expect(drain(listing([[a, b], [], [c]], 5))).rejects.toThrow(
      "ListThings: page 2 is empty before the total of 5 was reached (2 entries served); nothing stored was changed",
    );
  });

  it("refuses a listing that comes up short, when no entry was served twice", async () => {
    await expect(drain(listing([[a, b], [c]], 4))).rejects.toThrow(
      "ListThings: listed 3 distinct entries of 4",
    );
  });

  it("takes a page that partly repeats an earlier one as a listing that moved: unsettled, once, and no failure", async () => {
    const reasons: string[] = [];
    const d = { id: "d" };
    // b moved back a place while paging: it comes again on page 2, and d, pushed forward, again on page 3.
    const pages = listing(
      [
        [a, b],
        [b, c],
        [c, d],
      ],
      6,
      { unsettled: (reason) => reasons.push(reason) },
    );
    expect(await drain(pages)).toEqual(["a", "b", "b", "c", "c", "d"]);
    expect(reasons).toEqual([
      "ListThings: page 2 serves entry b again, after an earlier page did; the listing changed while it was paged",
    ]);
  });

  it("refuses a total that needs more pages than maxPages, before asking for page 2", async () => {
    const asked: number[] = [];
    await expect(drain(listing([[a, b]], 10_000_000, { maxPages: 10_000, asked }))).rejects.toThrow(
      "ListThings: 5,000,000 pages needed for a total of 10000000, more than maxPages 10,000 (raise the source's maxPages if the estate is really that big)",
    );
    expect(asked).toEqual([1]);
  });

  it("numbers pages as it goes: a vast total allowed by maxPages fails at its first empty page, with no list of pages", async () => {
    const asked: number[] = [];
    const vast = listing([[a, b]], 1e15, { maxPages: Number.MAX_SAFE_INTEGER, asked });
    await expect(drain(vast)).rejects.toThrow(
      "ListThings: page 2 is empty before the total of 1000000000000000",
    );
    // The first page, then no more than the pages in flight at once.
    expect(asked.length).toBeLessThanOrEqual(4);
  });
});

/** A marker-paged page as Huawei answers it: the list and `page_info.next_marker` (null on the last page). */
type MarkerAnswer = Record<string, unknown>;
const page = (ids: string[], next: string | null): MarkerAnswer => ({
  things: ids.map((id) => ({ thing_id: id })),
  page_info: { next_marker: next, current_count: ids.length },
});

/** Serves `answers` by marker (`undefined` for the first page), recording each query asked. */
function markerListing(
  answers: Map<string | undefined, MarkerAnswer>,
  options: Partial<MarkerPagesOptions<Item>> & { asked?: { limit: number; marker?: string }[] } = {},
) {
  return markerPages<Item>({
    call: "ListThings",
    field: "things",
    limit: 2,
    maxPages: 100,
    read: (entry, field) => {
      if (typeof entry.thing_id !== "string") throw new Error(`${field}.thing_id is missing`);
      return { id: entry.thing_id };
    },
    idOf: (item) => item.id,
    fetch: async (query) => {
      options.asked?.push(query);
      return answers.get(query.marker);
    },
    ...options,
  });
}

async function drainMarkers(pages: AsyncGenerator<{ items: Item[] }>): Promise<string[]> {
  const ids: string[] = [];
  for await (const { items } of pages) ids.push(...items.map((item) => item.id));
  return ids;
}

describe("marker-page walker", () => {
  it("asks limit, then limit and each next_marker, until next_marker is null; a page at a time", async () => {
    const asked: { limit: number; marker?: string }[] = [];
    const answers = new Map([
      [undefined, page(["a", "b"], "m-2")],
      ["m-2", page(["c", "d"], "m-3")],
      ["m-3", page(["e"], null)],
    ]);
    const fields: string[] = [];
    const walk = markerListing(answers, { asked, where: "instance ic-1" });
    for await (const { items, field } of walk) {
      // Streamed: each page is yielded before the next one is asked for.
      expect(asked).toHaveLength(fields.length + 1);
      fields.push(`${field}: ${items.map((item) => item.id).join(",")}`);
    }
    expect(asked).toEqual([{ limit: 2 }, { limit: 2, marker: "m-2" }, { limit: 2, marker: "m-3" }]);
    expect(fields).toEqual([
      "instance ic-1: things: a,b",
      "instance ic-1 page 2: things: c,d",
      "instance ic-1 page 3: things: e",
    ]);
  });

  it("takes an empty or absent next_marker, or absent page_info, as the last page", async () => {
    expect(await drainMarkers(markerListing(new Map([[undefined, page(["a"], "")]])))).toEqual(["a"]);
    expect(await drainMarkers(markerListing(new Map([[undefined, { things: [], page_info: {} }]])))).toEqual(
      [],
    );
    expect(
      await drainMarkers(markerListing(new Map([[undefined, { things: [{ thing_id: "a" }] }]]))),
    ).toEqual(["a"]);
  });

  it("with requirePageInfo, refuses a page without page_info, naming the page and the field", async () => {
    const answers = new Map([
      [undefined, page(["a", "b"], "m-2")],
      ["m-2", { things: [{ thing_id: "c" }] }],
    ]);
    await expect(drainMarkers(markerListing(answers, { requirePageInfo: true }))).rejects.toThrow(
      "ListThings returned a malformed page: page 2: page_info is missing or not an object",
    );
  });

  it("refuses a next_marker this listing already returned, without asking for it again", async () => {
    const asked: { limit: number; marker?: string }[] = [];
    const answers = new Map([
      [undefined, page(["a", "b"], "m-2")],
      ["m-2", page(["c", "d"], "m-2")],
    ]);
    await expect(drainMarkers(markerListing(answers, { asked }))).rejects.toThrow(
      'ListThings returned a malformed page: page 2: page_info.next_marker repeats "m-2", a marker this listing already returned; stopped instead of looping',
    );
    expect(asked).toHaveLength(2);
  });

  it("refuses a next_marker after an empty page", async () => {
    const answers = new Map([
      [undefined, page(["a", "b"], "m-2")],
      ["m-2", page([], "m-3")],
    ]);
    await expect(drainMarkers(markerListing(answers))).rejects.toThrow(
      "ListThings returned a malformed page: page 2: things is empty but next_marker is set",
    );
  });

  it("refuses a page that only repeats entries already served, under a new marker", async () => {
    const answers = new Map([
      [undefined, page(["a", "b"], "m-2")],
      ["m-2", page(["a", "b"], "m-3")],
    ]);
    await expect(drainMarkers(markerListing(answers))).rejects.toThrow(
      "ListThings returned a malformed page: page 2: things repeats entries of an earlier page",
    );
  });

  it("tells an entry served again beside new ones as unsettled, once; a caller may refuse it by throwing", async () => {
    const answers = new Map([
      [undefined, page(["a", "b"], "m-2")],
      ["m-2", page(["b", "c"], "m-3")],
      ["m-3", page(["c", "d"], null)],
    ]);
    const reasons: string[] = [];
    expect(
      await drainMarkers(markerListing(answers, { unsettled: (reason) => reasons.push(reason) })),
    ).toEqual(["a", "b", "b", "c", "c", "d"]);
    expect(reasons).toEqual([
      "ListThings: page 2: things serves entry b again, after an earlier page did; the listing changed while it was paged",
    ]);
    const refusing = markerListing(answers, {
      unsettled: (reason) => {
        throw new Error(reason);
      },
    });
    await expect(drainMarkers(refusing)).rejects.toThrow("page 2: things serves entry b again");
  });

  it("stops once it has fetched maxPages pages while next_marker still says there are more", async () => {
    const asked: { limit: number; marker?: string }[] = [];
    let served = 0;
    const endless = markerPages<Item>({
      call: "ListThings",
      field: "things",
      limit: 2,
      maxPages: 3,
      where: "instance ic-1",
      read: (entry) => ({ id: String(entry.thing_id) }),
      idOf: (item) => item.id,
      fetch: async (query) => {
        asked.push(query);
        served++;
        return page([`t-${served}`], `m-${served + 1}`);
      },
    });
    const error = await drainMarkers(endless).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SweepLimitError);
    expect((error as Error).message).toBe(
      "ListThings: instance ic-1: 3 pages fetched and next_marker still says there are more, the source's maxPages (raise it if the estate is really that big)",
    );
    expect(asked).toHaveLength(3);
  });

  it("refuses a page larger than the limit, a missing list, an entry that is not an object, a malformed page_info", async () => {
    const refused = async (answer: MarkerAnswer) =>
      drainMarkers(markerListing(new Map([[undefined, answer]]))).catch(
        (error: unknown) => (error as Error).message,
      );
    expect(await refused(page(["a", "b", "c"], null))).toBe(
      "ListThings returned a malformed page: page 1: things has 3 entries, more than the limit of 2",
    );
    expect(await refused({ page_info: { next_marker: null } })).toBe(
      "ListThings returned a malformed page: page 1: things is missing or not a list",
    );
    expect(await refused({ things: ["a"], page_info: { next_marker: null } })).toBe(
      "ListThings returned a malformed page: page 1: things[0] is not an object",
    );
    expect(await refused({ things: [{ thing_id: "a" }], page_info: { next_marker: 7 } })).toBe(
      "ListThings returned a malformed page: page 1: page_info.next_marker is 7, not a string",
    );
    expect(await refused({ things: [{ thing_id: "a" }], page_info: "more" })).toBe(
      "ListThings returned a malformed page: page 1: page_info is missing or not an object",
    );
    // The reader is told which entry it reads.
    expect(await refused({ things: [{ thing_id: "a" }, {}], page_info: { next_marker: null } })).toBe(
      "page 1: things[1].thing_id is missing",
    );
  });
});

describe("Alibaba error classification", () => {
  it.each(["Throttling", "Throttling.User", "Throttling.Api"])(
    "%s is throttling, whatever the HTTP status",
    (code) => {
      for (const status of [400, 429, 503]) {
        expect(
          classifyAliyunError(status, { Code: code, Message: "flow control", RequestId: "r-1" }),
        ).toEqual({
          code,
          message: "flow control",
          requestId: "r-1",
          retryAfterMs: undefined,
          throttled: true,
        });
      }
    },
  );

  it("a positive x-acs-retry-after (milliseconds, as the vendor's SDK reads it) is throttling, with that wait", () => {
    expect(
      classifyAliyunError(503, { Code: "ServiceUnavailable" }, { "x-acs-retry-after": "2000" }),
    ).toMatchObject({
      throttled: true,
      retryAfterMs: 2000,
    });
    for (const value of ["0", "-1", "soon", ""]) {
      expect(
        classifyAliyunError(500, { Code: "InternalError" }, { "x-acs-retry-after": value }),
      ).toMatchObject({
        throttled: false,
        retryAfterMs: undefined,
      });
    }
  });

  it("bad credentials are not throttling", () => {
    expect(classifyAliyunError(400, { Code: "SignatureDoesNotMatch" }).throttled).toBe(false);
    expect(classifyAliyunError(404, { Code: "InvalidAccessKeyId.NotFound" }).throttled).toBe(false);
  });
});
