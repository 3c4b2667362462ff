import { canonicalRequest, signature } from "../lib/sources/aliyun/signer.js";
import { sha256Hex } from "../lib/sources/encoding.js";
import type { ClientCertificateRecord, DeploymentJobRecord, SslOrderRecord } from "./aliyun-fleet.js";
import { type FaultOptions, type SimAnswer, type SimRequest, SimServer, TokenBucket } from "./server.js";

export interface CasSimulatorOptions extends FaultOptions {
  credentials: { accessKey: string; secretKey: string; securityToken?: string };
  /** Calls per second per AccessKey before CAS answers Throttling.User; the vendor's is 10. */
  qps?: number;
  clientCertificates?: ClientCertificateRecord[];
  deploymentJobs?: DeploymentJobRecord[];
  sslOrders?: SslOrderRecord[];
}

const VERSION = "2020-04-07";
const SKEW_MS = 15 * 60_000;
const MAX_PAGE_SIZE = 100;

function casError(status: number, code: string, message: string): SimAnswer {
  return {
    status,
    body: { RequestId: "sim-request", HostId: "cas.aliyuncs.com", Code: code, Message: message },
  };
}

function ok(body: Record<string, unknown>): SimAnswer {
  return { status: 200, body: { RequestId: "sim-request", ...body } };
}

/** Checks an ACS3-HMAC-SHA256 request as the gateway does; answers the vendor's error when it does not hold. */
function verify(
  request: SimRequest,
  options: CasSimulatorOptions,
  nonces: Set<string>,
): SimAnswer | undefined {
  const header = (name: string) => String(request.headers[name] ?? "");
  const match = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(
    header("authorization"),
  );
  if (!match) return casError(400, "MissingAuthorization", "Authorization is mandatory for this action.");
  const [, accessKey, signedHeaders, given] = match as unknown as [string, string, string, string];
  if (accessKey !== options.credentials.accessKey) {
    return casError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
  }
  if (header("x-acs-version") !== VERSION)
    return casError(400, "InvalidVersion", "Specified parameter Version is not valid.");
  const date = Date.parse(header("x-acs-date"));
  if (Number.isNaN(date) || Math.abs(date - Date.now()) > SKEW_MS) {
    return casError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.");
  }
  const nonce = header("x-acs-signature-nonce");
  if (!nonce || nonces.has(nonce))
    return casError(400, "SignatureNonceUsed", "Specified signature nonce was used already.");
  nonces.add(nonce);
  if (header("x-acs-content-sha256") !== sha256Hex(request.body)) {
    return casError(400, "IncompleteSignature", "The request body hash does not match x-acs-content-sha256.");
  }
  if (
    options.credentials.securityToken &&
    header("x-acs-security-token") !== options.credentials.securityToken
  ) {
    return casError(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken is not valid.");
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(";")) headers[name] = header(name);
  const url = new URL(request.url.pathname + request.url.search, `http://${header("host")}`);
  const { text } = canonicalRequest({ method: request.method, url, headers });
  if (signature(options.credentials.secretKey, text) !== given) {
    return casError(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation.");
  }
  return undefined;
}

function paging(params: URLSearchParams, defaultSize: number): { page: number; size: number } | SimAnswer {
  const page = Number(params.get("CurrentPage") ?? 1);
  const size = Number(params.get("ShowSize") ?? defaultSize);
  if (!Number.isInteger(page) || page < 1)
    return casError(400, "InvalidParameter", "CurrentPage must be >= 1.");
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    return casError(400, "InvalidParameter", `ShowSize must be 1 to ${MAX_PAGE_SIZE}.`);
  }
  return { page, size };
}

/**
 * Alibaba Cloud CAS (RPC, version 2020-04-07) for the calls certwatch makes: signature checks with nonce replay
 * and clock skew, one QPS budget per AccessKey answered with `Throttling.User`, and the documented paging and
 * time quirks of each call. Requests are counted per action in `calls`.
 */
export class CasSimulator extends SimServer {
  readonly calls = new Map<string, number>();
  /** When set, every list answers its first page whatever CurrentPage asks: an API bug the collectors must catch. */
  repeatFirstPage = false;
  private readonly fleet: CasSimulatorOptions;

  constructor(options: CasSimulatorOptions) {
    const nonces = new Set<string>();
    const bucket = options.qps ? new TokenBucket(options.qps) : undefined;
    super(
      (request) => {
        const action = String(
          request.headers["x-acs-action"] ?? request.url.searchParams.get("Action") ?? "",
        );
        this.calls.set(action, (this.calls.get(action) ?? 0) + 1);
        const denied = verify(request, options, nonces);
        if (denied) return denied;
        if (bucket && !bucket.take()) {
          return casError(400, "Throttling.User", "Request was denied due to user flow control.");
        }
        return this.answer(action, request.url.searchParams);
      },
      (fault) => {
        if (fault === "throttle")
          return casError(503, "Throttling", "Request was denied due to flow control.");
        if (fault === "malformed") return ok({ TotalCount: "many", Total: null, Data: "not-a-list" });
        return casError(500, "InternalError", "The request processing has failed due to some unknown error.");
      },
      options,
    );
    this.fleet = options;
  }

  private slice<T>(items: T[], page: number, size: number): T[] {
    const from = this.repeatFirstPage ? 0 : (page - 1) * size;
    return items.slice(from, from + size);
  }

  callsOf(action: string): number {
    return this.calls.get(action) ?? 0;
  }

  private answer(action: string, params: URLSearchParams): SimAnswer {
    switch (action) {
      case "ListClientCertificate": {
        const paged = paging(params, 20);
        if ("status" in paged) return paged;
        const all = this.fleet.clientCertificates ?? [];
        return ok({
          TotalCount: all.length,
          PageCount: Math.ceil(all.length / paged.size),
          CurrentPage: paged.page,
          ShowSize: paged.size,
          CertificateList: this.slice(all, paged.page, paged.size).map(
            ({ revocation: _hidden, ...listed }) => listed,
          ),
        });
      }
      case "DescribeClientCertificateStatus": {
        const identifiers = (params.get("Identifier") ?? "").split(",").filter(Boolean);
        if (identifiers.length === 0)
          return casError(400, "MissingIdentifier", "Identifier is mandatory for this action.");
        const byId = new Map((this.fleet.clientCertificates ?? []).map((c) => [c.Identifier, c]));
        return ok({
          CertificateStatus: identifiers.flatMap((id) => {
            const cert = byId.get(id);
            return cert ? [{ SerialNumber: cert.SerialNumber, ...cert.revocation }] : [];
          }),
        });
      }
      case "ListDeploymentJob": {
        const paged = paging(params, 50);
        if ("status" in paged) return paged;
        const all = this.fleet.deploymentJobs ?? [];
        return ok({
          Total: all.length,
          CurrentPage: paged.page,
          ShowSize: paged.size,
          Data: this.slice(all, paged.page, paged.size).map(({ workers: _workers, ...job }) => job),
        });
      }
      case "ListWorkerResource": {
        const jobId = Number(params.get("JobId"));
        const job = (this.fleet.deploymentJobs ?? []).find((candidate) => candidate.Id === jobId);
        if (!job)
          return casError(400, "InvalidJobId.NotFound", "The specified deployment job does not exist.");
        const paged = paging(params, 50);
        if ("status" in paged) return paged;
        return ok({
          Total: job.workers.length,
          CurrentPage: paged.page,
          ShowSize: paged.size,
          Data: this.slice(job.workers, paged.page, paged.size),
        });
      }
      case "ListUserCertificateOrder": {
        if (params.get("OrderType") !== "CERT") {
          return casError(400, "InvalidParameter", "this simulator serves OrderType=CERT only");
        }
        const paged = paging(params, 50);
        if ("status" in paged) return paged;
        const all = this.fleet.sslOrders ?? [];
        return ok({
          TotalCount: all.length,
          CurrentPage: paged.page,
          ShowSize: paged.size,
          CertificateOrderList: this.slice(all, paged.page, paged.size),
        });
      }
      default:
        return casError(404, "InvalidAction.NotFound", `Specified api ${action} is not found.`);
    }
  }
}
