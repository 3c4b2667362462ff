import { mapInOrder } from "./concurrency.js";
import { IncompleteListingError, MalformedResponseError, SweepLimitError } from "./http.js";
import type { ListingPlace } from "./types.js";

export interface NumberedPage<T> {
  items: T[];
  total: number;
}

/** What every walk of one source's listings keeps to (`walkRulesOf`). */
export interface WalkRules {
  /** The most pages one walk may take: the source's `maxPages`. */
  maxPages: number;
  /** Told, once per walk, that an entry came again on a later page (`CollectContext.unsettled`). */
  unsettled?: (reason: string) => void;
}

export interface NumberedPagesOptions<T> extends WalkRules {
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
  /** Told the first page's total, when the listing's entries are the source's objects (`CollectContext.total`). */
  onTotal?: (count: number) => void;
  /** Where an earlier part of the sweep left this walk (a place `reached` was told): the walk starts there. */
  resume?: NumberedPlace;
  /**
   * Told, once the consumer asks for more after taking page n and only when there is a page n + 1, the place to
   * resume from. It may throw to end this part of the sweep: the walk stops there.
   */
  reached?: (place: NumberedPlace) => void;
}

/**
 * Where a numbered walk can pick up again: the next page, the distinct entries the earlier parts served, and the
 * total the latest part saw. `moved`: the listing moved in an earlier part (the sweep was told it is unsettled), so
 * the entries served no longer have to come to the total.
 */
export type NumberedPlace = { page: number; served: number; total: number; moved?: boolean };

/** Reads the place an earlier part of the sweep saved, refusing one a numbered walk cannot resume from. */
export function numberedPlaceOf(place: ListingPlace | undefined, call: string): NumberedPlace | undefined {
  if (place === undefined) return undefined;
  const { page, served, total, moved } = place;
  const atLeast = (value: unknown, least: number): value is number =>
    typeof value === "number" && Number.isInteger(value) && value >= least;
  if (
    !atLeast(page, 2) ||
    !atLeast(served, 0) ||
    !atLeast(total, 0) ||
    !(moved === undefined || moved === true)
  ) {
    throw new Error(
      `${call}: the place an earlier part of the sweep saved, ${JSON.stringify(place)}, is not a page this listing ` +
        "can resume from; sweep the source again from its first page",
    );
  }
  return { page, served, total, ...(moved ? { moved } : {}) };
}

/**
 * The ids one walk has served. A non-empty page made only of ids already served means the API ignores the page
 * asked for and would go round in circles: the walk fails. An id served again beside new ones means the listing
 * moved while it was paged (an entry inserted ahead of the cursor, one renewed under an order by update time): what
 * it shows is used, and the sweep is told once per walk, so that what the walk stepped over is not taken as missing.
 */
export class ServedIds {
  private readonly ids = new Set<string>();
  private movedWhilePaged = false;

  constructor(
    private readonly call: string,
    private readonly unsettled?: (reason: string) => void,
  ) {}

  get count(): number {
    return this.ids.size;
  }

  /** An id came again on a later page: the listing changed while it was paged. */
  get moved(): boolean {
    return this.movedWhilePaged;
  }

  add(ids: string[], field: string): void {
    if (ids.length > 0 && ids.every((id) => this.ids.has(id))) {
      throw new MalformedResponseError(this.call, field, "repeats entries of an earlier page");
    }
    const again = this.movedWhilePaged ? undefined : ids.find((id) => this.ids.has(id));
    if (again !== undefined) {
      this.movedWhilePaged = true;
      this.unsettled?.(
        `${this.call}: ${field} serves entry ${again} again, after an earlier page did; the listing changed while it was paged`,
      );
    }
    for (const id of ids) this.ids.add(id);
  }
}

/** Page numbers one at a time: a walk of 200,000 pages holds no array of them. */
function* pageNumbers(first: number, last: number): Generator<number> {
  for (let page = first; page <= last; page++) yield page;
}

/**
 * Walks a listing paged by number with a total (`CurrentPage`/`ShowSize`/`TotalCount` and the like): the first
 * page tells the total, the rest are fetched concurrently and yielded in order. A listing that does not add up must
 * not be taken for the inventory, or the entries it lacks would be reported gone, so the walk fails when the total
 * needs more pages than `maxPages` (before page 2 is asked for), a page is larger than asked for, empty before the
 * total is reached or only repeats entries already served, the total moves while paging, or, no entry having come
 * twice, the distinct entries do not come to the total.
 *
 * A walk in parts (`resume`, `reached`) starts at the page where the last part stopped and counts the entries the
 * earlier parts served. The live listing may move in the minutes between parts: a total unlike the one the last part
 * saw is told as `unsettled`, not a failure, and the walk goes on to the new last page without the final count,
 * since entries may have been stepped over or served twice.
 */
export async function* numberedPages<T>(options: NumberedPagesOptions<T>): AsyncGenerator<T[]> {
  const served = new ServedIds(options.call, options.unsettled);
  const prefix = options.where ? `${options.where}: ` : "";
  const { resume } = options;
  const servedBefore = resume?.served ?? 0;
  const check = (page: number, items: T[], total: number): T[] => {
    if (items.length > options.pageSize) {
      throw new MalformedResponseError(
        options.call,
        `${prefix}page ${page}`,
        `has ${items.length} entries, more than the ${options.pageSize} asked for`,
      );
    }
    // Every page asked for lies within the total: an empty one means entries the listing did not serve.
    if (items.length === 0 && total > 0) {
      throw new IncompleteListingError(
        options.call,
        `${prefix}page ${page} is empty before the total of ${total} was reached (${servedBefore + served.count} ` +
          "entries served)",
      );
    }
    served.add(items.map(options.idOf), `${prefix}page ${page}`);
    return items;
  };

  const start = resume?.page ?? 1;
  const first = await options.fetch(start);
  const pages = Math.ceil(first.total / options.pageSize);
  if (pages > options.maxPages) {
    throw new SweepLimitError(
      `${options.call}: ${prefix}${pages.toLocaleString("en-US")} pages needed for a total of ${first.total}, more ` +
        `than maxPages ${options.maxPages.toLocaleString("en-US")} (raise the source's maxPages if the estate is ` +
        "really that big)",
    );
  }
  options.onTotal?.(first.total);
  const movedBetweenParts = resume !== undefined && first.total !== resume.total;
  if (movedBetweenParts) {
    options.unsettled?.(
      `${options.call}: ${prefix}the total moved from ${resume.total} to ${first.total} between parts of the sweep ` +
        `(page ${start}); entries may have been stepped over or served twice`,
    );
    // It shrank below the place where the last part stopped: nothing is left to walk.
    if (start > pages) return;
  }
  const movedEarlier = movedBetweenParts || resume?.moved === true;
  const placeAfter = (page: number): NumberedPlace => ({
    page: page + 1,
    served: servedBefore + served.count,
    total: first.total,
    ...(movedEarlier || served.moved ? { moved: true } : {}),
  });
  yield check(start, first.items, first.total);
  if (start < pages) options.reached?.(placeAfter(start));
  let number = start;
  for await (const page of mapInOrder(pageNumbers(start + 1, pages), options.concurrency, options.fetch)) {
    number++;
    if (page.total !== first.total) {
      throw new IncompleteListingError(
        options.call,
        `${prefix}the total moved from ${first.total} to ${page.total} while paging (page ${number})`,
      );
    }
    yield check(number, page.items, first.total);
    if (number < pages) options.reached?.(placeAfter(number));
  }
  // When the listing moved, entries it stepped over are short of the total (or one inserted and one deleted make it
  // add up by chance): the sweep was told it is unsettled and takes nothing as missing, so it needs no failure.
  if (!movedEarlier && !served.moved && servedBefore + served.count !== first.total) {
    const earlier = resume ? ` (${servedBefore} of them in earlier parts of the sweep)` : "";
    throw new IncompleteListingError(
      options.call,
      `${prefix}listed ${servedBefore + served.count} distinct entries of ${first.total}${earlier}`,
    );
  }
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

type Entry = Record<string, unknown>;

export interface MarkerPagesOptions<T> extends WalkRules {
  call: string;
  /** The list field of each page, e.g. `accounts`. */
  field: string;
  /** The `limit` asked for; a page holding more is malformed. */
  limit: number;
  /** Fetches one page: `{ limit }` for the first, `{ limit, marker }` for the rest. */
  fetch: (query: { limit: number; marker?: string }) => Promise<unknown>;
  /** Reads one entry, naming `field` (e.g. `page 2: accounts[3]`) in what it throws. */
  read: (entry: Entry, field: string) => T;
  /** Identifies an entry, to catch a listing that serves the same entries again. */
  idOf: (item: T) => string;
  /** Names the listing in errors, e.g. `instance ic-1`; pages after the first add `page n`. */
  where?: string;
  /**
   * Whether a page without `page_info` is malformed, instead of the last page: where an entry left unlisted
   * would go unheard (an Organization's member, never swept), an end the vendor did not state is not taken.
   */
  requirePageInfo?: boolean;
}

/** What one page of a marker walk yields: its entries, read, and the name of its list field for errors. */
export interface MarkerPage<T> {
  items: T[];
  /** E.g. `app-ins-0001 page 2: application_instance_certificates`. */
  field: string;
}

/** `page_info.next_marker`: a non-empty string means more pages; null, absent or empty means the last page. */
function nextMarkerOf(body: Entry, call: string, where: string, required: boolean): string | undefined {
  const pageInfo = body.page_info;
  if (typeof pageInfo !== "object" || pageInfo === null || Array.isArray(pageInfo)) {
    if (required || pageInfo !== undefined) {
      throw new MalformedResponseError(call, `${where}: page_info`, "is missing or not an object");
    }
    return undefined;
  }
  const next = (pageInfo as Entry).next_marker;
  if (next === undefined || next === null || next === "") return undefined;
  if (typeof next !== "string") {
    throw new MalformedResponseError(
      call,
      `${where}: page_info.next_marker`,
      `is ${JSON.stringify(next)}, not a string`,
    );
  }
  return next;
}

/**
 * Walks a listing paged by marker (`limit`/`marker`, until `page_info.next_marker` is null), one page in memory at
 * a time, yielding each page as it comes. With no total to check against, the walk fails rather than loop or take
 * a broken listing for the inventory: a next_marker already returned, a next_marker after an empty page, a page
 * larger than the limit or only repeating entries already served, or more than `maxPages` pages. An entry served
 * again beside new ones is told as `unsettled` (ServedIds).
 */
export async function* markerPages<T>(options: MarkerPagesOptions<T>): AsyncGenerator<MarkerPage<T>> {
  const { call, field, limit } = options;
  const served = new ServedIds(call, options.unsettled);
  const markers = new Set<string>();
  const label = (page: number) =>
    options.where ? (page === 1 ? options.where : `${options.where} page ${page}`) : `page ${page}`;
  let marker: string | undefined;
  for (let page = 1; ; page++) {
    const answer = await options.fetch(marker === undefined ? { limit } : { limit, marker });
    const body = (typeof answer === "object" && answer !== null ? answer : {}) as Entry;
    const where = label(page);
    const listField = `${where}: ${field}`;
    const list = listOf(body, call, field, `${where}: `);
    if (list.length > limit) {
      throw new MalformedResponseError(
        call,
        listField,
        `has ${list.length} entries, more than the limit of ${limit}`,
      );
    }
    const items = list.map((entry, index) => {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        throw new MalformedResponseError(call, `${listField}[${index}]`, "is not an object");
      }
      return options.read(entry as Entry, `${listField}[${index}]`);
    });
    const next = nextMarkerOf(body, call, where, options.requirePageInfo ?? false);
    if (next !== undefined && markers.has(next)) {
      throw new MalformedResponseError(
        call,
        `${where}: page_info.next_marker`,
        `repeats ${JSON.stringify(next)}, a marker this listing already returned; stopped instead of looping`,
      );
    }
    // Empty pages that keep promising more would pass every other guard, forever.
    if (next !== undefined && items.length === 0) {
      throw new MalformedResponseError(call, listField, "is empty but next_marker is set");
    }
    served.add(items.map(options.idOf), listField);
    yield { items, field: listField };
    if (next === undefined) return;
    if (page >= options.maxPages) {
      throw new SweepLimitError(
        `${call}: ${options.where ? `${options.where}: ` : ""}${page.toLocaleString("en-US")} pages fetched and ` +
          "next_marker still says there are more, the source's maxPages (raise it if the estate is really that big)",
      );
    }
    markers.add(next);
    marker = next;
  }
}
