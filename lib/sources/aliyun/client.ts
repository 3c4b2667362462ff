import { randomUUID } from "node:crypto";
import type { SourceConfig } from "../../config/schema.js";
import { encodeRfc3986 } from "../encoding.js";
import type { Limiter, ResponseHeaders, VendorError } from "../http.js";
import { listOf, numberedPages, totalOf } from "../paging.js";
import { pacingOf, walkRulesOf } from "../scope.js";
import type { CollectContext } from "../types.js";
import {
  type AliyunKeys,
  type CredentialSource,
  credentialsFor,
  isExpiredToken,
} from "./credentials/index.js";
import { signCall } from "./signer.js";

type AliyunSource = Extract<SourceConfig, { type: `aliyun-${string}` }>;

/** A page size every CAS listing serves; a listing that documents a larger maximum says so in `pageSize`. */
const PAGE_SIZE = 50;

export interface CasListing<T> {
  call: CasAction;
  /** Parameters besides `CurrentPage` and `ShowSize`. */
  params?: Record<string, string | number>;
  /** The answer's total and list fields: they differ by call (`Total`/`TotalCount`, `Data`/`CertificateList`). */
  total: string;
  list: string;
  /** Names the listing in errors, e.g. `job 8888`. */
  where?: string;
  /** Pages fetched at once after the first; the credential's concurrency when absent. */
  concurrency?: number;
  /** The documented maximum page size, when the call states one. */
  pageSize?: number;
  /** Reads one entry; `where` is its place for error messages (`page 2: Data[3]`). */
  read: (raw: Record<string, unknown>, where: string) => T;
  idOf: (item: T) => string;
  /** Told the listing's total when its entries are the source's objects (`CollectContext.total`). */
  onTotal?: (count: number) => void;
}

/**
 * The CAS API version of each action certwatch sends (vendor-contracts.json, `aliyun.cas.*`). CAS has two: the
 * private-CA calls live only in 2020-06-30 and the rest only in 2020-04-07; an action sent under the other one is
 * answered `InvalidAction.NotFound`.
 */
export const CAS_VERSIONS = {
  ListClientCertificate: "2020-06-30",
  DescribeClientCertificateStatus: "2020-06-30",
  ListCertificates: "2020-04-07",
  ListDeploymentJob: "2020-04-07",
  ListWorkerResource: "2020-04-07",
  CreateDeploymentJob: "2020-04-07",
  UpdateDeploymentJobStatus: "2020-04-07",
} as const;

export type CasAction = keyof typeof CAS_VERSIONS;

/**
 * The region a CAS endpoint serves, for labels: `cas.<region>.aliyuncs.com`, and the China site's
 * `cas.aliyuncs.com`, whose certificates CAS itself names `<id>-cn-hangzhou` (`CertIdentifier`). A configured
 * `region` wins; any other host (a simulator, a proxy) gives no label rather than an invented one.
 */
export function casRegionOf(source: { endpoint: string; region?: string }): string | undefined {
  if (source.region) return source.region;
  const host = new URL(source.endpoint).hostname;
  if (host === "cas.aliyuncs.com") return "cn-hangzhou";
  return /^cas\.([a-z0-9-]+)\.aliyuncs\.com$/.exec(host)?.[1];
}

/** A positive `x-acs-retry-after` (milliseconds, as the vendor's SDK reads it) means throttled, whatever the code. */
function retryAfterHeader(headers: ResponseHeaders): number | undefined {
  const value = headers["x-acs-retry-after"];
  const text = (Array.isArray(value) ? value[0] : value)?.trim() ?? "";
  return /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : undefined;
}

/** CAS answers `{Code, Message, RequestId}`; throttling is a code (`Throttling`, `Throttling.User`, ...), not a status. */
export function classifyAliyunError(
  status: number,
  body: unknown,
  headers: ResponseHeaders = {},
): VendorError {
  const record = (body ?? {}) as Record<string, unknown>;
  const code = typeof record.Code === "string" ? record.Code : undefined;
  const message = typeof record.Message === "string" ? record.Message : undefined;
  const requestId = typeof record.RequestId === "string" ? record.RequestId : undefined;
  const retryAfterMs = retryAfterHeader(headers);
  return {
    code,
    message,
    requestId,
    retryAfterMs,
    throttled: status === 429 || /^Throttling/.test(code ?? "") || retryAfterMs !== undefined,
  };
}

/**
 * The query string of an RPC call, encoded as the signature encodes it (RFC 3986: a space is `%20`, never `+`), so
 * that the gateway reads exactly what was signed.
 */
export function rpcQuery(params: Record<string, string | number>): string {
  return Object.entries(params)
    .map(([key, value]) => `${encodeRfc3986(key)}=${encodeRfc3986(String(value))}`)
    .join("&");
}

/**
 * RPC calls against Alibaba Cloud CAS, signed with ACS3-HMAC-SHA256. Every source using the same AccessKey shares
 * one limiter, so together they stay inside the account's budget (10 calls per second unless configured).
 */
export class AliyunClient {
  readonly limiter: Limiter;
  private readonly timeoutMs: number;
  private readonly credentials: CredentialSource;

  constructor(
    private readonly source: AliyunSource,
    private readonly context: CollectContext,
  ) {
    ({ limiter: this.limiter, timeoutMs: this.timeoutMs } = pacingOf(source, context.http));
    this.credentials = credentialsFor(source);
  }

  /** Every page of a CAS listing, checked as `numberedPages` checks every listing. */
  pages<T>(listing: CasListing<T>): AsyncGenerator<T[]> {
    const prefix = listing.where ? `${listing.where} ` : "";
    const pageSize = listing.pageSize ?? PAGE_SIZE;
    return numberedPages({
      ...walkRulesOf(this.source, this.context),
      call: listing.call,
      where: listing.where,
      pageSize,
      concurrency: listing.concurrency ?? this.limiter.concurrency,
      idOf: listing.idOf,
      onTotal: listing.onTotal,
      fetch: async (page) => {
        const body = await this.rpc(listing.call, {
          ...listing.params,
          CurrentPage: page,
          ShowSize: pageSize,
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

  /** Where this source's keys came from, for `validate`: known once a call has been made. */
  get credentialsUsed(): string {
    return this.credentials.description;
  }

  /**
   * `once`: a write that must not be sent twice (see `CallOptions.once`). Temporary keys refused as expired
   * (`InvalidSecurityToken.Expired`) are renewed once and the call is sent again with the new ones.
   */
  async rpc(
    action: CasAction,
    params: Record<string, string | number>,
    options: { once?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    const io = {
      http: this.context.http,
      stats: this.context.stats,
      signal: this.context.signal,
      redact: this.context.redact,
      timeoutMs: this.timeoutMs,
    };
    const keys = await this.credentials.get(io);
    try {
      return await this.send(action, params, options, keys);
    } catch (error) {
      // A refused signature took no effect, so even a write may be sent again.
      if (!isExpiredToken(error) || !this.credentials.renew) throw error;
      return this.send(action, params, options, await this.credentials.renew(io, keys));
    }
  }

  private async send(
    action: CasAction,
    params: Record<string, string | number>,
    options: { once?: boolean },
    keys: AliyunKeys,
  ): Promise<Record<string, unknown>> {
    const url = new URL("/", this.source.endpoint);
    url.search = rpcQuery(params);
    const body = await this.context.http.call({
      call: action,
      limiter: this.limiter,
      stats: this.context.stats,
      signal: this.context.signal,
      redact: this.context.redact,
      timeoutMs: this.timeoutMs,
      classifyError: classifyAliyunError,
      once: options.once,
      prepare: () => ({
        method: "POST",
        url,
        headers: signCall(
          { action, version: CAS_VERSIONS[action], method: "POST", url },
          keys,
          new Date(),
          randomUUID(),
        ),
      }),
    });
    return (body ?? {}) as Record<string, unknown>;
  }
}
