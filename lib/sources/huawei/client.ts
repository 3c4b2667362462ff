import type { SourceConfig } from "../../config/schema.js";
import type { Limiter, VendorError } from "../http.js";
import { pacingOf } from "../scope.js";
import type { CollectContext } from "../types.js";
import { signRequest } from "./signer.js";

type HuaweiSource = Extract<SourceConfig, { type: `huawei-${string}` }>;

/** Huawei APIG answers `{error_code, error_msg}`; `APIGW.0308` is the gateway's throttling. */
export function classifyHuaweiError(status: number, body: unknown): VendorError {
  const record = (body ?? {}) as Record<string, unknown>;
  const code = typeof record.error_code === "string" ? record.error_code : undefined;
  const message = typeof record.error_msg === "string" ? record.error_msg : undefined;
  return { code, message, throttled: status === 429 || code === "APIGW.0308" };
}

/**
 * Signed GETs against one Huawei Cloud service endpoint, paced by the source's credential.
 * Signatures always use the real clock: `--now` moves evaluation, not the gateway's skew check.
 */
export class HuaweiClient {
  readonly limiter: Limiter;
  private readonly timeoutMs: number;

  constructor(
    private readonly source: HuaweiSource,
    private readonly context: CollectContext,
  ) {
    ({ limiter: this.limiter, timeoutMs: this.timeoutMs } = pacingOf(source, context.http));
  }

  async get(call: string, path: string, query: Record<string, string | number>): Promise<unknown> {
    const url = new URL(path, this.source.endpoint);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, String(value));
    return this.context.http.call({
      call,
      limiter: this.limiter,
      stats: this.context.stats,
      signal: this.context.signal,
      timeoutMs: this.timeoutMs,
      classifyError: classifyHuaweiError,
      prepare: () => ({ method: "GET", url, headers: this.headers(url) }),
    });
  }

  private headers(url: URL): Record<string, string> {
    const { credentials } = this.source;
    const base: Record<string, string> = { "Content-Type": "application/json" };
    if ("projectId" in this.source && this.source.projectId) base["X-Project-Id"] = this.source.projectId;
    if ("domainId" in this.source && this.source.domainId) base["X-Domain-Id"] = this.source.domainId;
    if (credentials.token) return { ...base, "X-Auth-Token": credentials.token };
    if (credentials.securityToken) base["X-Security-Token"] = credentials.securityToken;
    return signRequest(
      { method: "GET", url, headers: base },
      { accessKey: credentials.accessKey ?? "", secretKey: credentials.secretKey ?? "" },
      new Date(),
    );
  }
}
