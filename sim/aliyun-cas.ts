import { canonicalRequest, signature } from "../lib/sources/aliyun/signer.js";
import { sha256Hex } from "../lib/sources/encoding.js";
import type {
  ClientCertificateRecord,
  DeploymentJobRecord,
  SslCertificateRecord,
  WorkerRecord,
} from "./aliyun-fleet.js";
import { type FaultOptions, type SimAnswer, type SimRequest, SimServer, TokenBucket } from "./server.js";

export interface CasSimulatorOptions extends FaultOptions {
  credentials: { accessKey: string; secretKey: string; securityToken?: string };
  /** Temporary keys (STS) accepted besides `credentials`, while they are valid. */
  temporaryKeys?: TemporaryKeyIssuer;
  /** Calls per second per AccessKey before CAS answers Throttling.User; the vendor's is 10. */
  qps?: number;
  clientCertificates?: ClientCertificateRecord[];
  deploymentJobs?: DeploymentJobRecord[];
  sslCertificates?: SslCertificateRecord[];
  /** Private CAs, root and subordinate, as DescribeCACertificateList serves them. */
  caCertificates?: CaCertificateRecord[];
  /** The instant CAS takes for now when it sorts certificates into valid, about to expire and expired. */
  now?: Date;
  /**
   * An organization's member accounts, by account id: each one's inventory, served only to keys acting in that
   * account (temporary keys whose issuer's `accountOf` names it), each with its own QPS budget. Keys of another
   * member see that member's inventory (an empty one when it has none here), never this one's.
   */
  members?: Map<string, MemberInventory>;
}

/** What one member account holds in CAS. */
export type MemberInventory = Pick<
  CasSimulatorOptions,
  "clientCertificates" | "deploymentJobs" | "sslCertificates" | "caCertificates"
>;

/**
 * A private CA as DescribeCACertificateList (2020-06-30) returns it: the contract's fields, validity in epoch ms.
 * A root CA carries no ParentIdentifier here: the contract does not say what CAS sends for one.
 */
export interface CaCertificateRecord {
  Identifier: string;
  ParentIdentifier?: string;
  CertificateType: "ROOT" | "SUB_ROOT";
  Status: "ISSUE" | "REVOKE";
  CommonName: string;
  SubjectDN: string;
  SerialNumber: string;
  Algorithm: "RSA" | "ECC" | "SM2";
  KeySize: number;
  SignAlgorithm: string;
  BeforeDate: number;
  AfterDate: number;
  Years: number;
  ResourceGroupId?: string;
}

/**
 * The API version each served action lives in (vendor-contracts.json `aliyun.cas.*`). CAS answers an action sent
 * under any other version, or an action it does not have, with `InvalidAction.NotFound` (HTTP 404).
 */
const VERSIONS: Record<string, string> = {
  ListClientCertificate: "2020-06-30",
  DescribeClientCertificateStatus: "2020-06-30",
  DescribeCACertificateList: "2020-06-30",
  ListUserCertificateOrder: "2020-04-07",
  ListCertificates: "2020-04-07",
  ListDeploymentJob: "2020-04-07",
  ListWorkerResource: "2020-04-07",
  CreateDeploymentJob: "2020-04-07",
  UpdateDeploymentJobStatus: "2020-04-07",
};
const SKEW_MS = 15 * 60_000;
const MAX_PAGE_SIZE = 100;
/** CAS calls a certificate `WILLEXPIRED` / `willExpire` within this many days of its end. */
const WILL_EXPIRE_MS = 30 * 86_400_000;

function casError(status: number, code: string, message: string): SimAnswer {
  return {
    status,
    body: { RequestId: "sim-request", HostId: "cas.aliyuncs.com", Code: code, Message: message },
  };
}

function ok(body: Record<string, unknown>): SimAnswer {
  return { status: 200, body: { RequestId: "sim-request", ...body } };
}

/**
 * The query as the gateway reads it: percent-escapes decoded and nothing else. A `+` stays a plus (the signature
 * encodes a space as `%20`), so a client that sends `+` for a space fails the signature check, as with CAS.
 */
export function rawQuery(search: string): [string, string][] {
  return search
    .replace(/^\?/, "")
    .split("&")
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf("=");
      const [key, value] = at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
      return [decodeURIComponent(key), decodeURIComponent(value)];
    });
}

/** The keys a gateway checks a request's signature with, found by its AccessKey id. */
export interface SigningKey {
  secretKey: string;
  /** The security token temporary keys must be sent with. */
  securityToken?: string;
  /** Temporary keys past their expiration: refused with `InvalidSecurityToken.Expired`. */
  expired?: boolean;
}

/** Issues temporary keys (the STS simulator) that other simulators accept while they are valid. */
export interface TemporaryKeyIssuer {
  signingKey(accessKeyId: string): SigningKey | undefined;
  /** The account the keys act in, when the issuer knows it (a role's account). */
  accountOf?(accessKeyId: string): string | undefined;
}

/** A request the gateway let through: its action, parameters and the AccessKey id that signed it. */
export interface SignedCall {
  action: string;
  params: URLSearchParams;
  caller: string;
}

/**
 * An ACS3 request to a service with one version per action (`versions`): the call, or the gateway's answer when the
 * signature does not hold or the action is not served under the version asked for (`InvalidAction.NotFound`).
 */
export function signedCall(
  request: SimRequest,
  versions: Readonly<Record<string, string>>,
  keyOf: (accessKey: string) => SigningKey | undefined,
  nonces: Set<string>,
  error: (status: number, code: string, message: string) => SimAnswer = casError,
): SignedCall | SimAnswer {
  const query = rawQuery(request.url.search);
  const params = new URLSearchParams(query);
  const action = String(request.headers["x-acs-action"] ?? params.get("Action") ?? "");
  const version = String(request.headers["x-acs-version"] ?? params.get("Version") ?? "");
  const denied = verifyAcs3(request, query, keyOf, nonces, error);
  if (denied) return denied;
  if (versions[action] !== version) {
    return error(404, "InvalidAction.NotFound", `Specified api ${action} is not found.`);
  }
  const caller = /Credential=([^,]+),/.exec(String(request.headers.authorization))?.[1] ?? "";
  return { action, params, caller };
}

/**
 * Checks an ACS3-HMAC-SHA256 request as the gateway does; answers the vendor's error when it does not hold. `keyOf`
 * finds the keys of an AccessKey id; `error` builds the service's error answer.
 */
export function verifyAcs3(
  request: SimRequest,
  query: [string, string][],
  keyOf: (accessKey: string) => SigningKey | undefined,
  nonces: Set<string>,
  error: (status: number, code: string, message: string) => SimAnswer = casError,
): SimAnswer | undefined {
  const header = (name: string) => String(request.headers[name] ?? "");
  const match = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(
    header("authorization"),
  );
  if (!match) return error(400, "MissingAuthorization", "Authorization is mandatory for this action.");
  const [, accessKey, signedHeaders, given] = match as unknown as [string, string, string, string];
  const key = keyOf(accessKey);
  if (!key) {
    return error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
  }
  const date = Date.parse(header("x-acs-date"));
  if (Number.isNaN(date) || Math.abs(date - Date.now()) > SKEW_MS) {
    return error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.");
  }
  const nonce = header("x-acs-signature-nonce");
  if (!nonce || nonces.has(nonce))
    return error(400, "SignatureNonceUsed", "Specified signature nonce was used already.");
  nonces.add(nonce);
  if (header("x-acs-content-sha256") !== sha256Hex(request.body)) {
    return error(400, "IncompleteSignature", "The request body hash does not match x-acs-content-sha256.");
  }
  if (key.securityToken && !header("x-acs-security-token")) {
    return error(400, "MissingSecurityToken", "SecurityToken is mandatory for temporary keys.");
  }
  if (key.securityToken && header("x-acs-security-token") !== key.securityToken) {
    return error(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken is not valid.");
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(";")) headers[name] = header(name);
  const url = new URL(request.url.pathname, `http://${header("host")}`);
  const { text } = canonicalRequest({ method: request.method, url, query, headers });
  if (signature(key.secretKey, text) !== given) {
    return error(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation.");
  }
  if (key.expired) return error(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.");
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
 * Alibaba Cloud CAS (RPC, versions 2020-04-07 and 2020-06-30) for the calls certwatch makes, as
 * vendor-contracts.json describes them: each action under its own version, signature checks over the query as
 * sent (with nonce replay and clock skew), one QPS budget per AccessKey answered with `Throttling.User` and
 * `x-acs-retry-after`, default filters, and the documented paging and time quirks of each call. Requests are
 * counted per action in `calls`.
 */
export class CasSimulator extends SimServer {
  readonly calls = new Map<string, number>();
  /** When set, every list answers its first page whatever CurrentPage asks: an API bug the collectors must catch. */
  repeatFirstPage = false;
  /** The instant CAS takes for now when it sorts certificates (tests move it with their `--now`); the clock if unset. */
  now: Date | undefined;
  /** Answers queued per action, given (after the signature check) instead of the real one: a refusal, a 5xx. */
  private readonly scripted = new Map<string, SimAnswer[]>();
  private fleet: CasSimulatorOptions;
  private readonly memberBuckets = new Map<string, TokenBucket>();
  /** Calls answered per member account, by account id. */
  readonly memberCalls = new Map<string, number>();

  private memberBucket(account: string, qps: number | undefined): TokenBucket | undefined {
    this.memberCalls.set(account, (this.memberCalls.get(account) ?? 0) + 1);
    if (!qps) return undefined;
    let bucket = this.memberBuckets.get(account);
    if (!bucket) {
      bucket = new TokenBucket(qps);
      this.memberBuckets.set(account, bucket);
    }
    return bucket;
  }

  constructor(options: CasSimulatorOptions) {
    const nonces = new Set<string>();
    const bucket = options.qps ? new TokenBucket(options.qps) : undefined;
    super(
      (request) => {
        const asked = String(
          request.headers["x-acs-action"] ?? new URLSearchParams(request.url.search).get("Action") ?? "",
        );
        this.calls.set(asked, (this.calls.get(asked) ?? 0) + 1);
        const call = signedCall(
          request,
          VERSIONS,
          (accessKey) =>
            accessKey === options.credentials.accessKey
              ? options.credentials
              : options.temporaryKeys?.signingKey(accessKey),
          nonces,
        );
        if (!("params" in call)) return call;
        const { action, params, caller } = call;
        const scripted = this.scripted.get(action)?.shift();
        if (scripted) return scripted;
        const account = options.members ? options.temporaryKeys?.accountOf?.(caller) : undefined;
        const budget = account === undefined ? bucket : this.memberBucket(account, options.qps);
        if (budget && !budget.take()) {
          return {
            ...casError(400, "Throttling.User", "Request was denied due to user flow control."),
            headers: { "x-acs-retry-after": String(budget.msUntilNext()) },
          };
        }
        if (account === undefined) return this.answer(action, params);
        // A member's keys see the member's inventory only.
        const own = this.fleet;
        let inventory = options.members?.get(account);
        if (!inventory) {
          inventory = {};
          options.members?.set(account, inventory);
        }
        this.fleet = inventory as CasSimulatorOptions;
        try {
          return this.answer(action, params);
        } finally {
          this.fleet = own;
        }
      },
      (fault) => {
        if (fault === "throttle")
          return casError(503, "Throttling", "Request was denied due to flow control.");
        if (fault === "malformed") return ok({ TotalCount: "many", Total: null, Data: "not-a-list" });
        return casError(500, "InternalError", "The request processing has failed due to some unknown error.");
      },
      options,
      "aliyun.cas",
    );
    this.fleet = options;
    this.now = options.now;
  }

  private slice<T>(items: T[], page: number, size: number): T[] {
    const from = this.repeatFirstPage ? 0 : (page - 1) * size;
    return items.slice(from, from + size);
  }

  /** The next call of `action` gets this answer instead of its own: a refusal, a 5xx, a 200 missing a field. */
  answerNext(action: string, status: number, body: Record<string, unknown>): void {
    const queue = this.scripted.get(action) ?? [];
    queue.push({ status, body: { RequestId: "sim-request", ...body }, deliberate: true });
    this.scripted.set(action, queue);
  }

  /** The next call of `action` gets this CAS error instead of its answer. */
  refuseNext(action: string, status: number, code: string, message: string): void {
    this.answerNext(action, status, casError(status, code, message).body as Record<string, unknown>);
  }

  callsOf(action: string): number {
    return this.calls.get(action) ?? 0;
  }

  /** Jobs whose id is here end in `error` (every worker too) when advanceJobs() takes them out of processing. */
  readonly failJobs = new Set<number>();
  /** What CreateDeploymentJob received, by new job id, for tests to inspect. */
  readonly created = new Map<number, Record<string, string>>();

  private get jobs(): DeploymentJobRecord[] {
    this.fleet.deploymentJobs ??= [];
    return this.fleet.deploymentJobs;
  }

  private setJobStatus(job: DeploymentJobRecord, status: string, at: number): void {
    job.Status = status;
    job.GmtModified = String(at);
    for (const worker of job.workers) {
      worker.Status = status;
      worker.GmtModified = String(at);
    }
  }

  /**
   * One scheduler tick: pending → scheduling → processing → success (error for ids in `failJobs`). As in CAS, a
   * finished job is never rewritten: a later job that deploys to the same resource leaves the earlier failure as it was.
   */
  advanceJobs(now = Date.now()): void {
    const next: Record<string, string> = { pending: "scheduling", scheduling: "processing" };
    for (const job of this.jobs) {
      if (next[job.Status]) {
        this.setJobStatus(job, next[job.Status] as string, now);
      } else if (job.Status === "processing" && job.workers.every((w) => w.Status === "processing")) {
        this.setJobStatus(job, this.failJobs.has(job.Id) ? "error" : "success", now);
      }
    }
  }

  private createJob(params: URLSearchParams): SimAnswer {
    for (const name of ["Name", "JobType", "CertIds", "ResourceIds", "ContactIds"]) {
      if (!params.get(name)) return casError(400, `Missing${name}`, `${name} is mandatory for this action.`);
    }
    const jobType = params.get("JobType");
    if (jobType !== "user" && jobType !== "cloud")
      return casError(400, "InvalidParameter", "Specified parameter JobType is not valid.");
    const ids = (name: string): number[] | undefined => {
      const list = (params.get(name) ?? "").split(",").map((id) => id.trim());
      return list.every((id) => /^[1-9]\d*$/.test(id)) ? list.map(Number) : undefined;
    };
    const certIds = ids("CertIds");
    const resourceIds = ids("ResourceIds");
    const contactIds = ids("ContactIds");
    for (const [name, list] of Object.entries({
      CertIds: certIds,
      ResourceIds: resourceIds,
      ContactIds: contactIds,
    })) {
      if (!list) return casError(400, "InvalidParameter", `Specified parameter ${name} is not valid.`);
    }
    const schedule = params.get("ScheduleTime");
    if (schedule !== null && !/^\d{13}$/.test(schedule)) {
      return casError(400, "InvalidParameter", "Specified parameter ScheduleTime is not valid.");
    }
    const known = new Map<number, WorkerRecord>();
    for (const job of this.jobs) for (const worker of job.workers) known.set(worker.ResourceId, worker);
    const unknown = (resourceIds as number[]).filter((id) => !known.has(id));
    if (unknown.length > 0)
      return casError(400, "InvalidParameter", `Specified resource ${unknown.join(",")} does not exist.`);
    // `user` deploys to Alibaba Cloud's own services, `cloud` to other clouds' resources (those with a CloudName).
    const mismatched = (resourceIds as number[]).filter(
      (id) => (known.get(id)?.CloudName !== undefined) !== (jobType === "cloud"),
    );
    if (mismatched.length > 0) {
      return casError(
        400,
        "InvalidParameter",
        `Specified parameter JobType ${jobType} does not match the cloud of resource ${mismatched.join(",")}.`,
      );
    }
    const now = Date.now();
    const jobId = Math.max(8_999, ...this.jobs.map((j) => j.Id)) + 1;
    let workerId = Math.max(0, ...this.jobs.flatMap((j) => j.workers.map((w) => w.Id))) + 1;
    const certId = (certIds as number[])[0] as number;
    const workers = (resourceIds as number[]).map((resourceId): WorkerRecord => ({
      ...(known.get(resourceId) as WorkerRecord),
      Id: workerId++,
      JobId: jobId,
      GmtCreate: String(now),
      GmtModified: String(now),
      CertId: certId,
      Status: "editing",
    }));
    this.jobs.push({
      Id: jobId,
      Name: params.get("Name") as string,
      JobType: jobType,
      Status: "editing",
      CertDomain: workers[0]?.CertDomain ?? "",
      ProductName: workers[0]?.CloudProduct ?? "",
      UserId: workers[0]?.UserId ?? 0,
      GmtCreate: String(now),
      GmtModified: String(now),
      workers,
    });
    this.created.set(jobId, Object.fromEntries(params.entries()));
    return ok({ JobId: jobId });
  }

  private updateJobStatus(params: URLSearchParams): SimAnswer {
    if (!params.get("JobId")) return casError(400, "MissingJobId", "JobId is mandatory for this action.");
    if (!params.get("Status")) return casError(400, "MissingStatus", "Status is mandatory for this action.");
    const job = this.jobs.find((candidate) => candidate.Id === Number(params.get("JobId")));
    if (!job) return casError(400, "InvalidJobId.NotFound", "The specified deployment job does not exist.");
    const status = params.get("Status");
    const allowed =
      (status === "pending" && job.Status === "editing") ||
      (status === "editing" && job.Status === "pending");
    if (!allowed) {
      return casError(
        400,
        "InvalidStatus",
        `The deployment job is ${job.Status}; it cannot be moved to ${JSON.stringify(status)}.`,
      );
    }
    this.setJobStatus(job, status as string, Date.now());
    return ok({});
  }

  private get sslCertificates(): SslCertificateRecord[] {
    return this.fleet.sslCertificates ?? [];
  }

  /** CAS's own sorting of a certificate, as of the simulator's `now`. */
  private sslState(cert: SslCertificateRecord): "revoked" | "expired" | "willExpire" | "issued" {
    const now = (this.now ?? new Date()).getTime();
    if (cert.Revoked) return "revoked";
    if (cert.NotAfter <= now) return "expired";
    return cert.NotAfter - now <= WILL_EXPIRE_MS ? "willExpire" : "issued";
  }

  /**
   * `ListUserCertificateOrder` (2020-04-07). With OrderType CERT (issued and uploaded) or UPLOAD, rows are
   * certificates with date-only `StartDate`/`EndDate` and `Expired`, and no Status; **without a Status only valid
   * certificates come back** (ISSUED and WILLEXPIRED); EXPIRED must be asked for; REVOKED and the order states
   * apply only to CPACK/BUY (quota and bought orders, which this fleet has none of). The default OrderType is CPACK.
   */
  private listUserCertificateOrder(params: URLSearchParams): SimAnswer {
    const orderType = params.get("OrderType") ?? "CPACK";
    if (!["CPACK", "BUY", "UPLOAD", "CERT"].includes(orderType))
      return casError(400, "InvalidParameter", "Specified parameter OrderType is not valid.");
    const status = params.get("Status");
    const statuses = [
      "PAYED",
      "CHECKING",
      "CHECKED_FAIL",
      "ISSUED",
      "WILLEXPIRED",
      "EXPIRED",
      "NOTACTIVATED",
      "REVOKED",
    ];
    if (status !== null && !statuses.includes(status))
      return casError(400, "InvalidParameter", "Specified parameter Status is not valid.");
    const paged = paging(params, 50);
    if ("status" in paged) return paged;
    const wanted = (cert: SslCertificateRecord): boolean => {
      if (orderType === "CPACK" || orderType === "BUY") return false;
      if (orderType === "UPLOAD" && cert.Source !== "UPLOAD") return false;
      const state = this.sslState(cert);
      if (status === null) return state === "issued" || state === "willExpire";
      return { ISSUED: "issued", WILLEXPIRED: "willExpire", EXPIRED: "expired" }[status] === state;
    };
    const all = this.sslCertificates.filter(wanted);
    // The date-only fields carry no zone; the console shows China time, so that is the day served.
    const day = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);
    return ok({
      TotalCount: all.length,
      CurrentPage: paged.page,
      ShowSize: paged.size,
      CertificateOrderList: this.slice(all, paged.page, paged.size).map((cert) => ({
        CertificateId: cert.CertificateId,
        InstanceId: cert.InstanceId,
        Name: cert.Name,
        CommonName: cert.CommonName,
        Sans: cert.Sans.join(","),
        Issuer: cert.Issuer,
        SerialNo: cert.Serial,
        Fingerprint: cert.Fingerprint,
        StartDate: day(cert.NotBefore),
        EndDate: day(cert.NotAfter),
        Expired: this.sslState(cert) === "expired",
        Upload: cert.Source === "UPLOAD",
      })),
    });
  }

  /**
   * `ListCertificates` (2020-04-07): every certificate with its exact `NotAfter` (ms), its status, and its SANs as a
   * real array, filtered by `CertificateStatus` and `CertificateSource` when given (the contract states no default
   * for either: absent, nothing is filtered). ShowSize 1 to 100, default 10.
   */
  private listCertificates(params: URLSearchParams): SimAnswer {
    const status = params.get("CertificateStatus");
    const source = params.get("CertificateSource");
    if (status !== null && !["issued", "revoked", "willExpire", "expired"].includes(status))
      return casError(400, "InvalidParameter", "Specified parameter CertificateStatus is not valid.");
    if (source !== null && !["BUY", "TEST", "UPLOAD"].includes(source))
      return casError(400, "InvalidParameter", "Specified parameter CertificateSource is not valid.");
    const paged = paging(params, 10);
    if ("status" in paged) return paged;
    const all = this.sslCertificates.filter(
      (cert) =>
        (status === null || this.sslState(cert) === status) && (source === null || cert.Source === source),
    );
    return ok({
      TotalCount: all.length,
      CurrentPage: paged.page,
      ShowSize: paged.size,
      CertificateList: this.slice(all, paged.page, paged.size).map((cert) => ({
        CertificateId: String(cert.CertificateId),
        CertIdentifier: `${cert.CertificateId}-cn-hangzhou`,
        InstanceId: cert.InstanceId,
        CertificateName: cert.Name,
        CommonName: cert.CommonName,
        Domain: cert.Sans.join(","),
        SubjectAlternativeNames: cert.Sans,
        Issuer: cert.Issuer,
        Serial: cert.Serial,
        FingerPrint: cert.Fingerprint,
        NotBefore: cert.NotBefore,
        NotAfter: cert.NotAfter,
        CertificateStatus: this.sslState(cert),
        CertificateSource: cert.Source,
        Algorithm: "RSA",
        KeySize: 2048,
        ExistPrivateKey: cert.Source !== "UPLOAD" || cert.UsingProductList.length > 0,
        UsingProductList: cert.UsingProductList,
      })),
    });
  }

  /**
   * `DescribeCACertificateList` (2020-06-30): CurrentPage/ShowSize (default 20) with TotalCount and PageCount. Its
   * filters (CaStatus, CertType, ValidStatus, IssuerType, Identifier, ResourceGroupId) have no documented default:
   * absent, nothing is filtered. Every CA here is issued by CAS itself (IssuerType local); none is forbidden.
   */
  private describeCaCertificateList(params: URLSearchParams): SimAnswer {
    const enums: Record<string, string[]> = {
      CaStatus: ["issue", "forbidden", "revoke"],
      CertType: ["root", "subRoot", "externalCa"],
      ValidStatus: ["valid", "notValid"],
      IssuerType: ["local", "iTrusChina", "external"],
    };
    for (const [name, allowed] of Object.entries(enums)) {
      const value = params.get(name);
      if (value !== null && !allowed.includes(value))
        return casError(400, "InvalidParameter", `Specified parameter ${name} is not valid.`);
    }
    const paged = paging(params, 20);
    if ("status" in paged) return paged;
    const now = (this.now ?? new Date()).getTime();
    const wanted: Record<string, (ca: CaCertificateRecord) => boolean> = {
      CaStatus: (ca) => ({ issue: "ISSUE", revoke: "REVOKE" })[params.get("CaStatus") ?? ""] === ca.Status,
      CertType: (ca) =>
        ({ root: "ROOT", subRoot: "SUB_ROOT" })[params.get("CertType") ?? ""] === ca.CertificateType,
      ValidStatus: (ca) =>
        (ca.BeforeDate <= now && now < ca.AfterDate) === (params.get("ValidStatus") === "valid"),
      IssuerType: () => params.get("IssuerType") === "local",
      Identifier: (ca) => ca.Identifier === params.get("Identifier"),
      ResourceGroupId: (ca) => ca.ResourceGroupId === params.get("ResourceGroupId"),
    };
    const all = (this.fleet.caCertificates ?? []).filter((ca) =>
      Object.entries(wanted).every(([name, test]) => params.get(name) === null || test(ca)),
    );
    return ok({
      TotalCount: all.length,
      PageCount: Math.ceil(all.length / paged.size),
      CurrentPage: paged.page,
      ShowSize: paged.size,
      CertificateList: this.slice(all, paged.page, paged.size),
    });
  }

  private answer(action: string, params: URLSearchParams): SimAnswer {
    switch (action) {
      case "DescribeCACertificateList":
        return this.describeCaCertificateList(params);
      case "ListClientCertificate": {
        const paged = paging(params, 20);
        if ("status" in paged) return paged;
        // Identifier: "optional filter: one certificate identifier".
        const identifier = params.get("Identifier");
        const all = (this.fleet.clientCertificates ?? []).filter(
          (cert) => identifier === null || cert.Identifier === identifier,
        );
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
      case "CreateDeploymentJob":
        return this.createJob(params);
      case "UpdateDeploymentJobStatus":
        return this.updateJobStatus(params);
      case "ListUserCertificateOrder":
        return this.listUserCertificateOrder(params);
      case "ListCertificates":
        return this.listCertificates(params);
      default:
        return casError(404, "InvalidAction.NotFound", `Specified api ${action} is not found.`);
    }
  }
}
