import { huaweiError as error, signedAccessKey, verifyHuaweiAuth } from "./huawei-auth.js";
import { type FaultOptions, type SimAnswer, type SimRequest, SimServer } from "./server.js";

/** A member of the Organization, as ListAccounts shows it. */
export interface OrganizationAccount {
  /** The account id: the domain id IAM takes for the member's agencies. */
  id: string;
  name: string;
  /** `active` unless set (the contract's enum). */
  status?: "active" | "suspended" | "pending_closure";
  joinMethod?: "invited" | "created";
}

export interface OrganizationsSimulatorOptions extends FaultOptions {
  /** The management account's (or a delegated administrator's) permanent keys and account: the only ones allowed. */
  managers: { accessKey: string; secretKey: string; domainId: string }[];
  /** The Organization's members; tests add and remove entries between runs. */
  accounts: OrganizationAccount[];
  /** At most this many accounts per page, whatever `limit` asks (the service may answer fewer): forces paging. */
  maxPerPage?: number;
}

export type OrganizationsSim = SimServer & {
  /** ListAccounts requests answered. */
  listCalls: () => number;
  /**
   * A test's scripted page: while set, each ListAccounts body is passed through it (a field removed, an id of the
   * wrong type) and the answer is marked deliberate, so the contract checker does not hold it to the vendor's.
   */
  rewrite: ((body: Record<string, unknown>) => Record<string, unknown>) | undefined;
};

const PATH = "/v1/organizations/accounts";
const MIN_LIMIT = 1;
const MAX_LIMIT = 2000;
const ORGANIZATION_ID = "o-sim0000000000001";

// The contract documents Organizations.1001..1010; what a bad limit or marker gets is the simulator's own code.
const invalid = (message: string) => error(400, "Organizations.1000", `Invalid parameter: ${message}`);

/** A marker as opaque text of 4 to 400 characters (the contract's range): the offset of the next page. */
function markerOf(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString("base64url");
}

function offsetOf(marker: string): number | undefined {
  if (marker.length < 4 || marker.length > 400) return undefined;
  const match = /^offset:(\d+)$/.exec(Buffer.from(marker, "base64url").toString());
  return match ? Number(match[1]) : undefined;
}

/**
 * Huawei Organizations `GET /v1/organizations/accounts` (vendor-contracts.json `huawei.organizations.ListAccounts`):
 * AK/SK signature checked as the gateway does (sim/huawei-auth.ts), X-Domain-Id checked against the caller's
 * account; only the management account's keys may list (401 Organizations.1001 for any other account's keys);
 * `limit` 1 to 2000 (default 200) and `marker` (4 to 400 characters, from `page_info.next_marker`, which is null on
 * the last page); each account with `id`, `urn`, `join_method`, `status`, `joined_at` and `name`.
 */
export function organizationsSimulator(options: OrganizationsSimulatorOptions): OrganizationsSim {
  let calls = 0;

  const list = (query: URLSearchParams): SimAnswer => {
    const limit = Number(query.get("limit") ?? 200);
    if (!Number.isInteger(limit) || limit < MIN_LIMIT || limit > MAX_LIMIT) {
      return invalid(`limit must be from ${MIN_LIMIT} to ${MAX_LIMIT}`);
    }
    const marker = query.get("marker");
    const offset = marker === null ? 0 : offsetOf(marker);
    if (offset === undefined) return invalid("marker is not one this service returned");
    calls++;
    const size = Math.min(limit, options.maxPerPage ?? limit);
    const all = options.accounts;
    const page = all.slice(offset, offset + size);
    const next = offset + size < all.length ? markerOf(offset + size) : null;
    const management = options.managers[0]?.domainId ?? "";
    const body = {
      accounts: page.map((account) => ({
        id: account.id,
        urn: `organizations::${management}:account:${ORGANIZATION_ID}/${account.id}`,
        join_method: account.joinMethod ?? "created",
        status: account.status ?? "active",
        joined_at: "2025-03-14T08:01:50Z",
        name: account.name,
      })),
      page_info: { next_marker: next, current_count: page.length },
    };
    return sim.rewrite ? { status: 200, body: sim.rewrite(body), deliberate: true } : { status: 200, body };
  };

  const handle = (request: SimRequest): SimAnswer => {
    if (request.method !== "GET" || request.url.pathname !== PATH) {
      return error(404, "APIGW.0101", "The API does not exist or has not been published in the environment");
    }
    const accessKey = signedAccessKey(request);
    const manager = options.managers.find((candidate) => candidate.accessKey === accessKey);
    if (!manager) {
      return error(
        401,
        "Organizations.1001",
        "Only the management account of the organization can call this API",
      );
    }
    const denied = verifyHuaweiAuth(request, { credentials: manager, domainId: manager.domainId });
    if (denied) return denied;
    return list(request.url.searchParams);
  };

  const server = new SimServer(
    handle,
    (fault) =>
      fault === "throttle"
        ? error(429, "APIGW.0308", "The throttling threshold has been reached")
        : error(500, "Organizations.1500", "Internal server error"),
    options,
    "huawei.organizations",
  );
  const sim: OrganizationsSim = Object.assign(server, { listCalls: () => calls, rewrite: undefined });
  return sim;
}
