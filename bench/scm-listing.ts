import { DAY_MS, parseLocalTime } from "../lib/model/time.js";
import type { ScmCertificate } from "../sim/fleet.js";
import {
  type HuaweiAuthOptions,
  huaweiError,
  signedAccessKey,
  verifyHuaweiAuth,
} from "../sim/huawei-auth.js";
import { type SimAnswer, type SimRequest, SimServer, TokenBucket } from "../sim/server.js";

const PATH = "/v3/scm/certificates";
/** SCM's wall-clock zone, as sim/fleet.ts writes expire_time. */
const WALL_CLOCK_ZONE = "+08:00";

export type ScmListing = SimServer & { change(id: string, changes: Partial<ScmCertificate>): void };

/**
 * Huawei SCM's ListCertificates for large inventories, answering only the query certwatch's huawei-scm source
 * sends (expiry order, ascending; every status; expired_days_since), as sim/huawei-scm.ts answers it: the same
 * signature check (temporary keys of an organization's members included, each shown its own account's
 * certificates), gateway throttle (429 APIGW.0308 over `qps` per access key) and latency.
 *
 * Why not sim/huawei-scm.ts itself: it filters and sorts the whole inventory on every page, about a second of CPU
 * per call at 100,000 certificates on the bench machine, so it serves about one call a second and a 100,000-object
 * sweep would measure the simulator, not certwatch at 10 calls/s. This one sorts each inventory once, and again
 * after a change.
 */
export function scmListing(
  options: HuaweiAuthOptions & {
    certificates: ScmCertificate[];
    /** Organization members' certificates by account id, for their temporary keys (`temporary`). */
    members?: Map<string, ScmCertificate[]>;
    qps: number;
    latencyMs: number;
  },
): ScmListing {
  const buckets = new Map<string, TokenBucket>();
  const sorted = new Map<ScmCertificate[], { certificates: ScmCertificate[]; notAfter: number[] }>();

  /** An inventory in expiry order with each certificate's expiry instant (NaN: none), built when first asked. */
  const listing = (inventory: ScmCertificate[]) => {
    let listed = sorted.get(inventory);
    if (!listed) {
      const certificates = [...inventory].sort((a, b) =>
        a.expire_time < b.expire_time ? -1 : a.expire_time > b.expire_time ? 1 : 0,
      );
      const notAfter = certificates.map((certificate) =>
        Date.parse(parseLocalTime(certificate.expire_time, WALL_CLOCK_ZONE) ?? ""),
      );
      listed = { certificates, notAfter };
      sorted.set(inventory, listed);
    }
    return listed;
  };

  const list = (query: URLSearchParams, inventory: ScmCertificate[]): SimAnswer => {
    const expiredDays = Number(query.get("expired_days_since") ?? 0);
    if (
      query.get("sort_key") !== "certExpiredTime" ||
      query.get("sort_dir") !== "ASC" ||
      (query.get("status") ?? "ALL") !== "ALL"
    )
      return huaweiError(400, "SCM.0002", "bench listing: only certwatch's query is served");
    const since = Date.now() - expiredDays * DAY_MS;
    const { certificates, notAfter } = listing(inventory);
    // Valid, or expired at most expired_days_since ago; never issued (no expiry) counts as valid, as in the simulator.
    const matching = certificates.filter((_, index) => !((notAfter[index] ?? Number.NaN) < since));
    const offset = Number(query.get("offset") ?? 0);
    const page = matching.slice(offset, offset + Number(query.get("limit") ?? 10));
    return {
      status: 200,
      body: {
        certificates: page.map(
          ({ updatedAt: _hidden, description, enterprise_project_id, ...certificate }) => ({
            ...certificate,
            description: description ?? "",
            enterprise_project_id: enterprise_project_id ?? "0",
          }),
        ),
        total_count: matching.length,
      },
    };
  };

  const server = new SimServer(
    (request: SimRequest) => {
      if (request.method !== "GET" || request.url.pathname !== PATH)
        return huaweiError(404, "APIGW.0101", "bench listing: only ListCertificates is served");
      const denied = verifyHuaweiAuth(request, options);
      if (denied) return denied;
      const key = signedAccessKey(request) ?? "";
      const bucket = buckets.get(key) ?? new TokenBucket(options.qps);
      buckets.set(key, bucket);
      if (!bucket.take()) return huaweiError(429, "APIGW.0308", "The throttling threshold has been reached");
      const member = options.temporary?.get(key);
      const inventory = member ? (options.members?.get(member.domainId) ?? []) : options.certificates;
      return list(request.url.searchParams, inventory);
    },
    () => huaweiError(500, "SCM.0001", "Internal server error"),
    { latencyMs: options.latencyMs },
    "huawei.scm",
  );
  const change = (id: string, changes: Partial<ScmCertificate>): void => {
    const certificate = options.certificates.find((candidate) => candidate.id === id);
    if (!certificate) throw new Error(`the bench listing holds no certificate ${id}`);
    Object.assign(certificate, changes, { updatedAt: Date.now() });
    sorted.delete(options.certificates);
  };
  return Object.assign(server, { change });
}
