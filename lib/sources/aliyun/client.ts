import { randomUUID } from "node:crypto";
import type { SourceConfig } from "../../config/schema.js";
import { encodeRfc3986 } from "../encoding.js";
import { ApiError, type Limiter, type ResponseHeaders, type VendorError } from "../http.js";
import { listOf, type NumberedPlace, numberedPages, totalOf } from "../paging.js";
import { pacingOf, walkRulesOf } from "../scope.js";
import type { CollectContext } from "../types.js";
import {
  type AliyunKeys,
  type CredentialIo,
  type CredentialSource,
  credentialsFor,
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
  /** Where an earlier part of the sweep left this listing (`numberedPages`). */
  resume?: NumberedPlace;
  /** Told, between pages, where this listing can resume from (`numberedPages`); may throw to end the part. */
  reached?: (place: NumberedPlace) => void;
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
  DescribeCACertificateList: "2020-06-30",
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

/** The answer's code that means temporary keys ran out: their owner gets new ones once, then the call is retried. */
export const EXPIRED_TOKEN = "InvalidSecurityToken.Expired";

export function isExpiredToken(error: unknown): boolean {
  return error instanceof ApiError && error.detail.code === EXPIRED_TOKEN;
}

/** One Alibaba RPC call: what to send, where, and against which budget. */
export interface AliyunRpcCall {
  /** Names the call in errors: the action, or more (`AssumeRole <role ARN>`). */
  call: string;
  action: string;
  version: string;
  endpoint: string;
  params: Record<string, string | number>;
  limiter: Limiter;
  /** A write that must not be sent twice (see `CallOptions.once`). */
  once?: boolean;
}

/**
 * Every Alibaba RPC call certwatch signs goes through here: signed with ACS3-HMAC-SHA256 afresh for each attempt,
 * sent through the shared HTTP client (its pacing and retries), errors read as Alibaba words them. Temporary keys
 * refused as expired (`InvalidSecurityToken.Expired`) are renewed once and the call is sent again: a refused
 * signature took no effect, so even a write may be.
 */
export async function aliyunRpc(
  rpc: AliyunRpcCall,
  credentials: CredentialSource,
  io: CredentialIo,
): Promise<Record<string, unknown>> {
  const keys = await credentials.get(io);
  try {
    return await sendSigned(rpc, keys, io);
  } catch (error) {
    if (!isExpiredToken(error) || !credentials.renew) throw error;
    return sendSigned(rpc, await credentials.renew(io, keys), io);
  }
}

async function sendSigned(
  rpc: AliyunRpcCall,
  keys: AliyunKeys,
  io: CredentialIo,
): Promise<Record<string, unknown>> {
  const url = new URL("/", rpc.endpoint);
  url.search = rpcQuery(rpc.params);
  const body = await io.http.call({
    call: rpc.call,
    limiter: rpc.limiter,
    stats: io.stats,
    signal: io.signal,
    redact: io.redact,
    timeoutMs: io.timeoutMs,
    classifyError: classifyAliyunError,
    once: rpc.once,
    prepare: () => ({
      method: "POST",
      url,
      headers: signCall(
        { action: rpc.action, version: rpc.version, method: "POST", url },
        keys,
        new Date(),
        randomUUID(),
      ),
    }),
  });
  return (body ?? {}) as Record<string, unknown>;
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
      resume: listing.resume,
      reached: listing.reached,
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

  /** `once`: a write that must not be sent twice (see `CallOptions.once`). */
  rpc(
    action: CasAction,
    params: Record<string, string | number>,
    options: { once?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    return aliyunRpc(
      {
        call: action,
        action,
        version: CAS_VERSIONS[action],
        endpoint: this.source.endpoint,
        params,
        limiter: this.limiter,
        once: options.once,
      },
      this.credentials,
      {
        http: this.context.http,
        stats: this.context.stats,
        signal: this.context.signal,
        redact: this.context.redact,
        timeoutMs: this.timeoutMs,
      },
    );
  }
}
