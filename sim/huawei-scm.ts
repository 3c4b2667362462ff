import type { ScmCertificate } from "./fleet.js";
import { type HuaweiAuthOptions, huaweiError as error, verifyHuaweiAuth } from "./huawei-auth.js";
import { type FaultOptions, type SimAnswer, type SimRequest, SimServer, TokenBucket } from "./server.js";

export interface ScmSimulatorOptions extends FaultOptions, HuaweiAuthOptions {
  certificates: ScmCertificate[];
  /** Calls per second per access key before APIGW answers 429 APIGW.0308. */
  qps?: number;
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
    const denied = verifyHuaweiAuth(request, options);
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
