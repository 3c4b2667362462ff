import { describe, expect, it } from "vitest";
import { classifyAliyunError } from "../lib/sources/aliyun/client.js";
import { numberedPages, type WalkRules } from "../lib/sources/paging.js";

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
