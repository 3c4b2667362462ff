import { describe, expect, it } from "vitest";
import { classifyAliyunError } from "../lib/sources/aliyun/client.js";
import { numberedPages } from "../lib/sources/paging.js";

type Item = { id: string };

/** Serves `pages` (1-based) as a listing with `total`, the way a numbered-page API does. */
function listing(pages: Item[][], total: number | ((page: number) => number)) {
  return numberedPages<Item>({
    call: "ListThings",
    pageSize: 2,
    concurrency: 2,
    idOf: (item) => item.id,
    fetch: async (page) => ({
      items: pages[page - 1] ?? [],
      total: typeof total === "number" ? total : total(page),
    }),
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

  it("refuses a listing that comes up short (an empty page before the total was reached)", async () => {
    await expect(drain(listing([[a, b], []], 3))).rejects.toThrow(
      "ListThings: listed 2 distinct entries of 3",
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
