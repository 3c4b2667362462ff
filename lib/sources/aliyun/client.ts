import { randomUUID } from "node:crypto";
import type { SourceConfig } from "../../config/schema.js";
import type { Limiter, VendorError } from "../http.js";
import { listOf, numberedPages, totalOf } from "../paging.js";
import { pacingOf } from "../scope.js";
import type { CollectContext } from "../types.js";
import { signCall } from "./signer.js";

type AliyunSource = Extract<SourceConfig, { type: `aliyun-${string}` }>;

/** CAS lists answer at most this many entries a page; every listing here asks for it. */
const PAGE_SIZE = 50;

export interface CasListing<T> {
  call: string;
  /** Parameters besides `CurrentPage` and `ShowSize`. */
  params?: Record<string, string | number>;
  /** The answer's total and list fields: they differ by call (`Total`/`TotalCount`, `Data`/`CertificateList`). */
  total: string;
  list: string;
  /** Names the listing in errors, e.g. `job 8888`. */
  where?: string;
  /** Pages fetched at once after the first; the credential's concurrency when absent. */
  concurrency?: number;
  /** Reads one entry; `where` is its place for error messages (`page 2: Data[3]`). */
  read: (raw: Record<string, unknown>, where: string) => T;
  idOf: (item: T) => string;
}

/** Every CAS call this monitor makes is served by this API version. */
export const CAS_VERSION = "2020-04-07";

/** CAS answers `{Code, Message, RequestId}`; throttling is a code (`Throttling`, `Throttling.User`, ...), not a status. */
export function classifyAliyunError(status: number, body: unknown): VendorError {
  const record = (body ?? {}) as Record<string, unknown>;
  const code = typeof record.Code === "string" ? record.Code : undefined;
  const message = typeof record.Message === "string" ? record.Message : undefined;
  const requestId = typeof record.RequestId === "string" ? record.RequestId : undefined;
  return { code, message, requestId, throttled: status === 429 || /^Throttling/.test(code ?? "") };
}

/**
 * RPC calls against Alibaba Cloud CAS, signed with ACS3-HMAC-SHA256. Every source using the same AccessKey shares
 * one limiter, so together they stay inside the account's budget (10 calls per second unless configured).
 */
export class AliyunClient {
  readonly limiter: Limiter;
  private readonly timeoutMs: number;

  constructor(
    private readonly source: AliyunSource,
    private readonly context: CollectContext,
  ) {
    ({ limiter: this.limiter, timeoutMs: this.timeoutMs } = pacingOf(source, context.http));
  }

  /** Every page of a CAS listing, checked as `numberedPages` checks every listing. */
  pages<T>(listing: CasListing<T>): AsyncGenerator<T[]> {
    const prefix = listing.where ? `${listing.where} ` : "";
    return numberedPages({
      call: listing.call,
      where: listing.where,
      pageSize: PAGE_SIZE,
      concurrency: listing.concurrency ?? this.limiter.concurrency,
      idOf: listing.idOf,
      fetch: async (page) => {
        const body = await this.rpc(listing.call, {
          ...listing.params,
          CurrentPage: page,
          ShowSize: PAGE_SIZE,
        });
        const where = `${prefix}page ${page}: `;
        return {
          total: totalOf(body, listing.call, listing.total, where),
          items: listOf(body, listing.call, listing.list, where).map((raw, index) =>
            listing.read(raw as Record<string, unknown>, `${where}${listing.list}[${index}]`),
          ),
        };
      },
    });
  }

  /** `once`: a write that must not be sent twice (see `CallOptions.once`). */
  async rpc(
    action: string,
    params: Record<string, string | number>,
    options: { once?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    const url = new URL("/", this.source.endpoint);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
    const body = await this.context.http.call({
      call: action,
      limiter: this.limiter,
      stats: this.context.stats,
      signal: this.context.signal,
      timeoutMs: this.timeoutMs,
      classifyError: classifyAliyunError,
      once: options.once,
      prepare: () => ({
        method: "POST",
        url,
        headers: signCall(
          { action, version: CAS_VERSION, method: "POST", url },
          this.source.credentials,
          new Date(),
          randomUUID(),
        ),
      }),
    });
    return (body ?? {}) as Record<string, unknown>;
  }
}
