import { canonicalRequest, sdkDate, signature } from "../lib/sources/huawei/signer.js";
import type { ScmCertificate } from "./fleet.js";
import { type FaultOptions, type SimAnswer, type SimRequest, SimServer, TokenBucket } from "./server.js";

export interface ScmSimulatorOptions extends FaultOptions {
  certificates: ScmCertificate[];
  credentials: { accessKey: string; secretKey: string };
  /** An IAM token accepted in X-Auth-Token instead of a signature. */
  token?: string;
  /** Calls per second per access key before APIGW answers 429 APIGW.0308. */
  qps?: number;
}

const SKEW_MS = 15 * 60_000;

function error(status: number, code: string, message: string): SimAnswer {
  return { status, body: { error_code: code, error_msg: message } };
}

/** Checks an APIG AK/SK signature the way the gateway does: recompute it over the headers the client signed. */
function verifySignature(request: SimRequest, options: ScmSimulatorOptions): SimAnswer | undefined {
  if (options.token && request.headers["x-auth-token"] === options.token) return undefined;
  const authorization = String(request.headers.authorization ?? "");
  const match = /^SDK-HMAC-SHA256 Access=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
    authorization,
  );
  if (!match) return error(401, "APIGW.0301", "Incorrect IAM authentication information: no AK/SK signature");
  const [, accessKey, signedHeaders, given] = match as unknown as [string, string, string, string];
  if (accessKey !== options.credentials.accessKey) {
    return error(401, "APIGW.0301", "Incorrect IAM authentication information: unknown access key");
  }
  const date = String(request.headers["x-sdk-date"] ?? "");
  const parsed = Date.parse(
    date.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"),
  );
  if (Number.isNaN(parsed) || Math.abs(parsed - Date.now()) > SKEW_MS || sdkDate(new Date(parsed)) !== date) {
    return error(
      401,
      "APIGW.0303",
      "Incorrect app authentication information: X-Sdk-Date is missing or skewed",
    );
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(";")) headers[name] = String(request.headers[name] ?? "");
  const url = new URL(request.url.pathname + request.url.search, `http://${request.headers.host}`);
  const { text } = canonicalRequest({ method: request.method, url, headers, body: request.body });
  if (signature(options.credentials.secretKey, date, text) !== given) {
    return error(401, "APIGW.0301", "Incorrect IAM authentication information: signature does not match");
  }
  return undefined;
}

/**
 * Huawei SCM `GET /v3/scm/certificates` as documented: offset/limit paging with limit 10 to 50 (default 10),
 * `total_count`, AK/SK or token authentication, and the gateway's 429 `APIGW.0308` when over `qps`.
 */
export function scmSimulator(options: ScmSimulatorOptions): SimServer {
  const bucket = options.qps ? new TokenBucket(options.qps) : undefined;
  const handle = (request: SimRequest): SimAnswer => {
    if (request.method !== "GET" || request.url.pathname !== "/v3/scm/certificates") {
      return error(404, "APIGW.0101", "The API does not exist or has not been published in the environment");
    }
    const denied = verifySignature(request, options);
    if (denied) return denied;
    if (bucket && !bucket.take())
      return error(429, "APIGW.0308", "The throttling threshold has been reached");
    const limit = Number(request.url.searchParams.get("limit") ?? 10);
    const offset = Number(request.url.searchParams.get("offset") ?? 0);
    if (![10, 20, 50].includes(limit)) return error(400, "SCM.0002", "limit must be 10, 20 or 50");
    if (!Number.isInteger(offset) || offset < 0)
      return error(400, "SCM.0002", "offset must be a whole number >= 0");
    return {
      status: 200,
      body: {
        certificates: options.certificates.slice(offset, offset + limit),
        total_count: options.certificates.length,
      },
    };
  };
  return new SimServer(
    handle,
    (fault) => {
      if (fault === "throttle") return error(429, "APIGW.0308", "The throttling threshold has been reached");
      if (fault === "malformed")
        return { status: 200, body: { certificates: "not-a-list", total_count: "many" } };
      return error(500, "SCM.0001", "Internal server error");
    },
    options,
  );
}
