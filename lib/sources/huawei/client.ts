import type { SourceConfig } from "../../config/schema.js";
import type { Limiter, ResponseHeaders, VendorError } from "../http.js";
import { pacingOf } from "../scope.js";
import type { CollectContext } from "../types.js";
import {
  type AgencyCredentials,
  agencyCredentials,
  baseCredential,
  type HuaweiCredential,
  isExpiredCredential,
  memberAgency,
  scopeOf,
} from "./credentials.js";
import { authorizedHeaders } from "./signer.js";

type HuaweiSource = Extract<SourceConfig, { type: `huawei-${string}` }>;

/** The gateway's throttling, under both spellings seen in Huawei's pages. */
const THROTTLING_CODES = new Set(["APIGW.0308", "APIG.0308"]);

/** How deep the SDK-like search goes into nested objects: far enough for `{"error": {...}}`, never unbounded. */
const MAX_DEPTH = 3;

type Body = Record<string, unknown>;

function isObject(value: unknown): value is Body {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The body and the objects nested in it, the body first: where the vendor's SDK looks for an error. */
function* objectsOf(body: unknown, depth = 0): Generator<Body> {
  if (!isObject(body)) return;
  yield body;
  if (depth < MAX_DEPTH) for (const value of Object.values(body)) yield* objectsOf(value, depth + 1);
}

/** The first value of `key` in the body or its nested objects. */
function firstText(body: unknown, key: string): string | undefined {
  for (const object of objectsOf(body)) {
    const value = text(object[key]);
    if (value) return value;
  }
  return undefined;
}

/**
 * Like the SDK: `error_code`/`error_msg`, else `code`/`message`, taken as a pair, first in the body and then in
 * nested objects (some gateways answer `{"error": {"code", "message"}}`); a lone code or message at the top level
 * otherwise, so that a bare throttling code is still recognised.
 */
function errorOf(body: unknown): { code?: string; message?: string } {
  for (const object of objectsOf(body)) {
    for (const [codeKey, messageKey] of [
      ["error_code", "error_msg"],
      ["code", "message"],
    ] as const) {
      const code = text(object[codeKey]);
      const message = text(object[messageKey]);
      if (code && message) return { code, message };
    }
  }
  const top = isObject(body) ? body : {};
  return {
    code: text(top.error_code) ?? text(top.code),
    message: text(top.error_msg) ?? text(top.message),
  };
}

/**
 * Huawei APIG answers `{error_code, error_msg}` (or `code`/`message`) with the request id in `X-Request-Id` (some
 * services also put `request_id` in the body). Identity Center and Organizations explain a 403 in an
 * `encoded_authorization_message`: the message says so. `APIGW.0308` (also `APIG.0308`) is the gateway's throttling.
 */
export function classifyHuaweiError(status: number, body: unknown, headers: ResponseHeaders): VendorError {
  const { code, message } = errorOf(body);
  const header = headers["x-request-id"];
  const requestId = text(Array.isArray(header) ? header[0] : header) ?? firstText(body, "request_id");
  const encoded = firstText(body, "encoded_authorization_message");
  return {
    code,
    // The blob is only of use whole, and too long for a message: say it came, and the request id finds it again.
    message: encoded
      ? `${message ?? "access denied"}; the gateway explains the denial in an encoded_authorization_message (${encoded.length} characters)`
      : message,
    requestId,
    throttled: status === 429 || (code !== undefined && THROTTLING_CODES.has(code)),
  };
}

/**
 * The headers that scope a call to an account. X-Domain-Id is what global credentials send, the default of the
 * global services; SCM's SDK also takes basic credentials, which send X-Project-Id. Nothing says the two conflict,
 * so SCM sends whichever is configured, both if both are. Identity Center takes global credentials only: it never
 * gets a project. With an agency, the account is the one that delegates (the member the temporary keys belong to);
 * with keys from the environment, the SDK's HUAWEICLOUD_SDK_DOMAIN_ID / _PROJECT_ID (`scopeOf`).
 */
function scopeHeaders(source: HuaweiSource): Record<string, string> {
  const { domainId, projectId } = scopeOf(source);
  const headers: Record<string, string> = {};
  if (domainId) headers["X-Domain-Id"] = domainId;
  if (projectId) headers["X-Project-Id"] = projectId;
  return headers;
}

/**
 * Signed GETs against one Huawei Cloud service endpoint, paced by the source's credential.
 * Signatures always use the real clock: `--now` moves evaluation, not the gateway's skew check.
 * With `assumeAgency`, calls are signed with the agency's temporary keys, renewed before they expire; a 401 saying
 * they expired anyway (a clock ahead of ours) gets new keys once, and the call is made again.
 */
export class HuaweiClient {
  readonly limiter: Limiter;
  private readonly timeoutMs: number;
  private base: HuaweiCredential | undefined;

  constructor(
    private readonly source: HuaweiSource,
    private readonly context: CollectContext,
  ) {
    ({ limiter: this.limiter, timeoutMs: this.timeoutMs } = pacingOf(source, context.http));
  }

  async get(call: string, path: string, query: Record<string, string | number>): Promise<unknown> {
    const url = new URL(path, this.source.endpoint);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, String(value));
    const agency = this.agency();
    if (!agency) return this.send(call, url, this.baseCredential());
    const temporary = await agency.get(this.source, this.context);
    try {
      return await this.send(call, url, temporary);
    } catch (error) {
      if (!isExpiredCredential(error)) throw error;
      agency.invalidate(temporary);
      return this.send(call, url, await agency.get(this.source, this.context));
    }
  }

  private baseCredential(): HuaweiCredential {
    this.base ??= baseCredential(this.source);
    return this.base;
  }

  private agency(): AgencyCredentials | undefined {
    const assumeAgency = memberAgency(this.source) ?? this.source.credentials.assumeAgency;
    return assumeAgency
      ? agencyCredentials(this.context.http, assumeAgency, this.baseCredential())
      : undefined;
  }

  private send(call: string, url: URL, credential: HuaweiCredential): Promise<unknown> {
    return this.context.http.call({
      call,
      limiter: this.limiter,
      stats: this.context.stats,
      signal: this.context.signal,
      redact: this.context.redact,
      timeoutMs: this.timeoutMs,
      classifyError: classifyHuaweiError,
      prepare: () => ({ method: "GET", url, headers: this.headers(url, credential) }),
    });
  }

  private headers(url: URL, credential: HuaweiCredential): Record<string, string> {
    const headers = { "Content-Type": "application/json", ...scopeHeaders(this.source) };
    return authorizedHeaders({ method: "GET", url, headers }, credential);
  }
}
