import { DAY_MS, parseLocalTime } from "../lib/model/time.js";
import type { ScmCertificate } from "./fleet.js";
import {
  type HuaweiAuthOptions,
  huaweiError as error,
  signedAccessKey,
  verifyHuaweiAuth,
} from "./huawei-auth.js";
import { type FaultOptions, type SimAnswer, type SimRequest, SimServer, TokenBucket } from "./server.js";

/** How ShowCertificate writes `not_after`, a string whose format the contract leaves open. */
export type NotAfterForm = "wall-clock" | "iso" | "epoch-ms";

export interface ScmSimulatorOptions extends FaultOptions, HuaweiAuthOptions {
  certificates: ScmCertificate[];
  /** Calls per second per access key before APIGW answers 429 APIGW.0308. */
  qps?: number;
  /** SCM's "now" in ms, for expired_days_since and update times; the real clock when left out. */
  clock?: () => number;
  /** SCM's own wall-clock form, as expire_time, when left out. */
  notAfterForm?: NotAfterForm;
  /**
   * Organization members' certificates, by account (domain) id: temporary keys acting in a member's account (issued
   * through its agency, sim/huawei-iam.ts) see that member's certificates, and only them; `certificates` are the
   * account of the permanent keys.
   */
  members?: Map<string, ScmCertificate[]>;
}

export type ScmSim = SimServer & {
  /** Requests answered per member account (`members`), by account id. */
  memberCalls: Map<string, number>;
  /** Renews or edits a certificate as SCM would: its fields change, and its update time becomes the latest. */
  change(id: string, changes: Partial<ScmCertificate>): void;
};

const PATH = "/v3/scm/certificates";
const LIMITS = [10, 20, 50];
/** The status filter's values (huawei.scm.ListCertificates `status`). */
const STATUS_FILTERS = new Set([
  "ALL",
  "PAID",
  "ISSUED",
  "CHECKING",
  "CANCELCHECKING",
  "UNPASSED",
  "EXPIRED",
  "REVOKING",
  "REVOKED",
  "UPLOAD",
  "CHECKING_ORG",
  "ISSUING",
  "SUPPLEMENTCHECKING",
]);
const MAX_EXPIRED_DAYS = 1095;
/** The zone of SCM's wall-clock times, as the fleet writes them: China time, what the console shows. */
const WALL_CLOCK_ZONE = "+08:00";

type SortKey = "certExpiredTime" | "certStatus" | "certUpdateTime";

/**
 * What each sort key orders by. Wall-clock times in one zone sort as their instants; where a certificate without
 * an expiry goes is not documented: here first when ascending, like a SQL NULL.
 */
const SORT_VALUE: Record<SortKey, (certificate: ScmCertificate) => string | number> = {
  certExpiredTime: (certificate) => certificate.expire_time,
  certStatus: (certificate) => certificate.status,
  certUpdateTime: (certificate) => certificate.updatedAt ?? 0,
};

// The simulator's own error codes, in Huawei's shape: the contract documents none for ListCertificates and only
// placeholders (SCM.XXX) for ShowCertificate.
const badRequest = (message: string) => error(400, "SCM.0002", message);
const throttled = () => error(429, "APIGW.0308", "The throttling threshold has been reached");

function isSortKey(value: string): value is SortKey {
  return Object.hasOwn(SORT_VALUE, value);
}

/** Array sort is stable: certificates that tie keep the order SCM holds them in. */
function sortedBy(certificates: ScmCertificate[], key: SortKey, direction: "ASC" | "DESC"): ScmCertificate[] {
  const value = SORT_VALUE[key];
  const sign = direction === "ASC" ? 1 : -1;
  return [...certificates].sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    return x < y ? -sign : x > y ? sign : 0;
  });
}

/** Valid, or expired at most `days` before `now` (expired_days_since); never issued counts as valid. */
function expiredWithin(certificate: ScmCertificate, days: number, now: number): boolean {
  const notAfter = certificate.expire_time && parseLocalTime(certificate.expire_time, WALL_CLOCK_ZONE);
  return !notAfter || Date.parse(notAfter) >= now - days * DAY_MS;
}

/** A certificate as ListCertificates serves it: the update time stays inside SCM. */
function listed({ updatedAt: _hidden, description, enterprise_project_id, ...certificate }: ScmCertificate) {
  return {
    ...certificate,
    description: description ?? "",
    enterprise_project_id: enterprise_project_id ?? "0",
  };
}

function notAfterOf(certificate: ScmCertificate, form: NotAfterForm): string {
  const instant = certificate.expire_time && parseLocalTime(certificate.expire_time, WALL_CLOCK_ZONE);
  if (!instant || form === "wall-clock") return certificate.expire_time;
  return form === "iso" ? instant : String(Date.parse(instant));
}

/** A certificate as ShowCertificate serves it: only the fields both calls share, under this call's names. */
function shown(certificate: ScmCertificate, form: NotAfterForm) {
  return {
    id: certificate.id,
    status: certificate.status,
    name: certificate.name,
    type: certificate.type,
    brand: certificate.brand,
    signature_algorithm: certificate.signature_algorithm,
    not_after: notAfterOf(certificate, form),
    validity_period: certificate.validity_period,
    domain_type: certificate.domain_type,
    domain: certificate.domain,
    sans: certificate.sans,
    domain_count: certificate.domain_count,
    wildcard_count: certificate.wildcard_count,
    description: certificate.description ?? "",
    enterprise_project_id: certificate.enterprise_project_id ?? "0",
  };
}

/**
 * Huawei SCM `GET /v3/scm/certificates` and `GET /v3/scm/certificates/{certificate_id}` as the contract has them:
 * limit 10, 20 or 50 (default 10) and a record offset (its documented maximum, 100 on some pages, is not enforced:
 * the contract leaves it unsettled); sort_key and sort_dir, by default certUpdateTime DESC, so a change moves a
 * certificate to the front; the status filter (default ALL) and expired_days_since (default 0: expired certificates
 * are left out unless asked for); AK/SK or token authentication, X-Domain-Id checked against `domainId`; 404 for an
 * unknown certificate, and the gateway's 429 `APIGW.0308` when over `qps`.
 */
export function scmSimulator(options: ScmSimulatorOptions): ScmSim {
  // The gateway's budget is per access key: each member's temporary keys spend their own.
  const buckets = new Map<string, TokenBucket>();
  const withinQps = (request: SimRequest): boolean => {
    if (!options.qps) return true;
    const key = signedAccessKey(request) ?? "";
    let bucket = buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(options.qps);
      buckets.set(key, bucket);
    }
    return bucket.take();
  };
  const clock = options.clock ?? Date.now;

  const memberCalls = new Map<string, number>();

  /** The certificates the caller's account holds: a member's, for temporary keys acting in it. */
  const certificatesOf = (request: SimRequest): ScmCertificate[] => {
    if (!options.members) return options.certificates;
    const temporary = options.temporary?.get(signedAccessKey(request) ?? "");
    if (!temporary) return options.certificates;
    memberCalls.set(temporary.domainId, (memberCalls.get(temporary.domainId) ?? 0) + 1);
    return options.members.get(temporary.domainId) ?? [];
  };

  const list = (query: URLSearchParams, certificates: ScmCertificate[]): SimAnswer => {
    const limit = Number(query.get("limit") ?? 10);
    const offset = Number(query.get("offset") ?? 0);
    const expiredDays = Number(query.get("expired_days_since") ?? 0);
    const sortKey = query.get("sort_key") ?? "certUpdateTime";
    const sortDir = query.get("sort_dir") ?? "DESC";
    const status = query.get("status") ?? "ALL";
    if (!LIMITS.includes(limit)) return badRequest("limit must be 10, 20 or 50");
    if (!Number.isInteger(offset) || offset < 0) return badRequest("offset must be a whole number >= 0");
    if (!Number.isInteger(expiredDays) || expiredDays < 0 || expiredDays > MAX_EXPIRED_DAYS)
      return badRequest(`expired_days_since must be a whole number from 0 to ${MAX_EXPIRED_DAYS}`);
    if (!isSortKey(sortKey))
      return badRequest("sort_key must be certExpiredTime, certStatus or certUpdateTime");
    if (sortDir !== "ASC" && sortDir !== "DESC") return badRequest("sort_dir must be ASC or DESC");
    if (!STATUS_FILTERS.has(status)) return badRequest(`status ${status} is not a certificate status`);
    const now = clock();
    const matching = certificates.filter(
      (certificate) =>
        (status === "ALL" || certificate.status === status) && expiredWithin(certificate, expiredDays, now),
    );
    const ordered = sortedBy(matching, sortKey, sortDir);
    return {
      status: 200,
      body: { certificates: ordered.slice(offset, offset + limit).map(listed), total_count: ordered.length },
    };
  };

  const show = (segment: string, certificates: ScmCertificate[]): SimAnswer => {
    let id: string;
    try {
      id = decodeURIComponent(segment);
    } catch {
      return badRequest("the certificate id is not validly encoded");
    }
    const certificate = certificates.find((candidate) => candidate.id === id);
    if (!certificate) return error(404, "SCM.0404", `certificate ${id} does not exist`);
    return { status: 200, body: shown(certificate, options.notAfterForm ?? "wall-clock") };
  };

  const handle = (request: SimRequest): SimAnswer => {
    const { pathname, searchParams } = request.url;
    const segment = pathname.startsWith(`${PATH}/`) ? pathname.slice(PATH.length + 1) : undefined;
    const routed = request.method === "GET" && (pathname === PATH || (!!segment && !segment.includes("/")));
    if (!routed)
      return error(404, "APIGW.0101", "The API does not exist or has not been published in the environment");
    const denied = verifyHuaweiAuth(request, options);
    if (denied) return denied;
    if (!withinQps(request)) return throttled();
    const certificates = certificatesOf(request);
    return segment ? show(segment, certificates) : list(searchParams, certificates);
  };

  const change = (id: string, changes: Partial<ScmCertificate>): void => {
    const certificate = options.certificates.find((candidate) => candidate.id === id);
    if (!certificate) throw new Error(`the simulator holds no certificate ${id}`);
    const latest = options.certificates.reduce((most, other) => Math.max(most, other.updatedAt ?? 0), 0);
    Object.assign(certificate, changes, { updatedAt: Math.max(clock(), latest + 1) });
  };

  const server = new SimServer(
    handle,
    (fault) => {
      if (fault === "throttle") return throttled();
      if (fault === "malformed")
        return { status: 200, body: { certificates: "not-a-list", total_count: "many" } };
      return error(500, "SCM.0001", "Internal server error");
    },
    options,
    "huawei.scm",
  );
  return Object.assign(server, { change, memberCalls });
}
