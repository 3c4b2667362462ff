import { mapInOrder } from "./concurrency.js";
import { IncompleteListingError, MalformedResponseError } from "./http.js";

export interface NumberedPage<T> {
  items: T[];
  total: number;
}

export interface NumberedPagesOptions<T> {
  call: string;
  pageSize: number;
  /** Pages fetched at once after the first; the credential's limiter paces them in any case. */
  concurrency: number;
  /** Fetches page `n` (1-based) and reads it; throws MalformedResponseError for a page it cannot read. */
  fetch: (page: number) => Promise<NumberedPage<T>>;
  /** Identifies an item, to catch an API that answers every page with the same entries. */
  idOf: (item: T) => string;
  /** Names the listing in errors, e.g. `job 8888`. */
  where?: string;
}

/**
 * Walks a listing paged by number with a total (`CurrentPage`/`ShowSize`/`TotalCount` and the like): the first
 * page tells the total, the rest are fetched concurrently and yielded in order. A page larger than asked for, one
 * that only repeats entries already seen, a total that moves while paging, or fewer distinct entries than the
 * total, end the walk with an error: a listing that does not add up must not be taken for the inventory, or the
 * missing entries would be reported gone.
 */
export async function* numberedPages<T>(options: NumberedPagesOptions<T>): AsyncGenerator<T[]> {
  const seen = new Set<string>();
  const prefix = options.where ? `${options.where}: ` : "";
  const check = (page: number, items: T[]): T[] => {
    if (items.length > options.pageSize) {
      throw new MalformedResponseError(
        options.call,
        `${prefix}page ${page}`,
        `has ${items.length} entries, more than the ${options.pageSize} asked for`,
      );
    }
    rememberNew(seen, items.map(options.idOf), options.call, `${prefix}page ${page}`);
    return items;
  };

  const first = await options.fetch(1);
  yield check(1, first.items);
  const pages = Math.ceil(first.total / options.pageSize);
  const rest = Array.from({ length: Math.max(0, pages - 1) }, (_, index) => index + 2);
  let index = 0;
  for await (const page of mapInOrder(rest, options.concurrency, options.fetch)) {
    const number = rest[index++] ?? 0;
    if (page.total !== first.total) {
      throw new IncompleteListingError(
        options.call,
        `${prefix}the total moved from ${first.total} to ${page.total} while paging (page ${number})`,
      );
    }
    yield check(number, page.items);
  }
  if (seen.size !== first.total) {
    throw new IncompleteListingError(
      options.call,
      `${prefix}listed ${seen.size} distinct entries of ${first.total}`,
    );
  }
}

/**
 * Adds a page's ids to those a listing has served. A non-empty page made only of entries already served means the
 * API is going round in circles (it ignores the page asked for): the walk must stop with an error, not loop.
 */
export function rememberNew(seen: Set<string>, ids: string[], call: string, field: string): void {
  if (ids.length > 0 && ids.every((id) => seen.has(id))) {
    throw new MalformedResponseError(call, field, "repeats entries of an earlier page");
  }
  for (const id of ids) seen.add(id);
}

/** Reads a whole-number total from a page, naming the field when it is missing. */
export function totalOf(body: Record<string, unknown>, call: string, field: string, where: string): number {
  const value = body[field];
  const total = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof total !== "number" || !Number.isInteger(total) || total < 0) {
    throw new MalformedResponseError(call, `${where}${field}`, "is missing or not a whole number");
  }
  return total;
}

/** Reads the list of entries from a page, naming the field when it is missing. */
export function listOf(body: Record<string, unknown>, call: string, field: string, where: string): unknown[] {
  const value = body[field];
  if (!Array.isArray(value))
    throw new MalformedResponseError(call, `${where}${field}`, "is missing or not a list");
  return value;
}
