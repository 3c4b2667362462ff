import { createHash } from "node:crypto";
import type { SourceConfig } from "../config/schema.js";
import type { MemberAccount } from "../config/units.js";
import { aliyunRpc } from "./aliyun/client.js";
import { organizationCredentialsFor } from "./aliyun/credentials/index.js";
import { globMatches } from "../model/match.js";
import { type HttpClient, IncompleteListingError, MalformedResponseError, newCallStats } from "./http.js";
import { classifyHuaweiError } from "./huawei/client.js";
import { baseCredential, ENV, usesEnvironment } from "./huawei/credentials.js";
import { authorizedHeaders } from "./huawei/signer.js";
import { listOf, markerPages, numberedPages, totalOf } from "./paging.js";
import { DEFAULT_MAX_PAGES } from "./scope.js";

/*
 * Organizations: a source with `accounts` stands for every member of an Alibaba Resource Directory or a Huawei
 * Organization, discovered on every run.
 * Expansion happens where a run starts (the CLI's runSweep, the Lambda dispatch): each member becomes its own unit
 * per endpoint, `<name>.<accountId>[.<n>]`, with its own credentials (the member's role, assumed when the unit is
 * swept, so a member refusing it fails alone) and its own vendor budget (credentialScope).
 */

export const RESOURCE_MANAGER_VERSION = "2020-03-31";
/** ListAccounts' largest page (vendor-contracts.json `aliyun.resourcemanager.ListAccounts`: PageSize 1..100). */
const PAGE_SIZE = 100;
/**
 * Members that exist: a member still being created (or whose creation failed, expired or was cancelled) has no
 * role to assume yet. Invited members and promoted resource accounts are swept.
 */
const NOT_YET_MEMBERS = new Set(["CreateVerifying", "CreateFailed", "CreateExpired", "CreateCancelled"]);

export interface DiscoveryIo {
  http: HttpClient;
  redact?: (text: string) => string;
  signal?: AbortSignal;
}

type AliyunSource = Extract<SourceConfig, { type: `aliyun-${string}` }>;
type HuaweiSource = Extract<SourceConfig, { type: `huawei-${string}` }>;

/** Organizations ListAccounts' default page (vendor-contracts.json `huawei.organizations.ListAccounts`: 1..2000). */
const HUAWEI_PAGE_SIZE = 200;
const HUAWEI_ACCOUNTS_PATH = "/v1/organizations/accounts";
const ORGANIZATIONS_LIST_ACCOUNTS = "ListAccounts";

/** Whether `include`/`exclude` pick a member, by its id or its name. */
export function accountSelected(
  account: MemberAccount,
  filter: { include: readonly string[]; exclude: readonly string[] },
): boolean {
  const matches = (pattern: string) => globMatches(pattern, account.id) || globMatches(pattern, account.name);
  return filter.include.some(matches) && !filter.exclude.some(matches);
}

/** Every member of the Resource Directory the source's own credentials administer (`ListAccounts`, paged). */
export async function listDirectoryAccounts(source: AliyunSource, io: DiscoveryIo): Promise<MemberAccount[]> {
  const accounts = source.accounts;
  if (!accounts) return [];
  const stats = newCallStats();
  const credentials = organizationCredentialsFor(source);
  const timeoutMs = 20_000;
  const credentialIo = { http: io.http, stats, signal: io.signal, redact: io.redact, timeoutMs };
  const call = "ListAccounts";
  const scope = `aliyun-rd-${createHash("sha256").update(accounts.endpoint).update(source.configuredName).digest("hex").slice(0, 16)}`;
  const limiter = io.http.limiterFor(scope, 5, 2);
  const found: MemberAccount[] = [];
  const pages = numberedPages<MemberAccount & { status: string }>({
    call,
    pageSize: PAGE_SIZE,
    concurrency: 2,
    maxPages: source.maxPages ?? DEFAULT_MAX_PAGES,
    idOf: (account) => account.id,
    // A directory that changed while paged may have stepped over a member, which would then go unswept unheard:
    // the organization fails as one unit instead, as a Huawei walk with a repeated id does.
    unsettled: (reason) => {
      throw new IncompleteListingError(call, reason);
    },
    fetch: async (page) => {
      const body = await aliyunRpc(
        {
          call,
          action: call,
          version: RESOURCE_MANAGER_VERSION,
          endpoint: accounts.endpoint,
          params: { PageNumber: page, PageSize: PAGE_SIZE },
          limiter,
        },
        credentials,
        credentialIo,
      );
      const where = `page ${page}: `;
      const wrapper = (body.Accounts ?? {}) as Record<string, unknown>;
      return {
        total: totalOf(body, call, "TotalCount", where),
        items: listOf(wrapper, call, "Account", `${where}Accounts.`).map((raw, index) => {
          const entry = (raw ?? {}) as Record<string, unknown>;
          const id = entry.AccountId;
          if (typeof id !== "string" || !/^\d+$/.test(id)) {
            throw new MalformedResponseError(
              call,
              `${where}Accounts.Account[${index}].AccountId`,
              "is not an account id",
            );
          }
          const name = typeof entry.DisplayName === "string" && entry.DisplayName ? entry.DisplayName : id;
          return { id, name, status: typeof entry.Status === "string" ? entry.Status : "" };
        }),
      };
    },
  });
  for await (const page of pages) {
    for (const account of page) {
      if (!NOT_YET_MEMBERS.has(account.status)) found.push({ id: account.id, name: account.name });
    }
  }
  return found;
}

/** One entry of Organizations ListAccounts; its `status` decides whether the member is swept. */
function readOrganizationAccount(
  entry: Record<string, unknown>,
  field: string,
): MemberAccount & { status: string } {
  const { id, name, status } = entry;
  if (typeof id !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    throw new MalformedResponseError(ORGANIZATIONS_LIST_ACCOUNTS, `${field}.id`, "is not an account id");
  }
  if (typeof status !== "string") {
    throw new MalformedResponseError(
      ORGANIZATIONS_LIST_ACCOUNTS,
      `${field}.status`,
      "is missing or not a string",
    );
  }
  // The SDK writes the status in lower case, one documentation page in upper case.
  return { id, name: typeof name === "string" && name ? name : id, status: status.toLowerCase() };
}

/**
 * Every active member of the Huawei Organization the source's own keys administer (Organizations `ListAccounts`,
 * walked by markerPages). A global service: scoped by X-Domain-Id, the source's `domainId` (the management account)
 * or the SDK's HUAWEICLOUD_SDK_DOMAIN_ID with keys from the environment.
 * Suspended members and those pending closure are not swept: their agencies cannot be assumed.
 */
export async function listOrganizationAccounts(
  source: HuaweiSource,
  io: DiscoveryIo,
): Promise<MemberAccount[]> {
  const accounts = source.accounts;
  if (!accounts) return [];
  const stats = newCallStats();
  const credential = baseCredential(source);
  const domainId =
    ("domainId" in source ? source.domainId : undefined) ??
    (usesEnvironment(source) ? process.env[ENV.domainId] || undefined : undefined);
  const call = ORGANIZATIONS_LIST_ACCOUNTS;
  const scope = `huawei-org-${createHash("sha256").update(accounts.endpoint).update(source.configuredName).digest("hex").slice(0, 16)}`;
  const limiter = io.http.limiterFor(scope, 5, 2);
  const pages = markerPages({
    call,
    field: "accounts",
    limit: HUAWEI_PAGE_SIZE,
    maxPages: source.maxPages ?? DEFAULT_MAX_PAGES,
    // A page that cannot say whether members follow would leave them unswept, unheard.
    requirePageInfo: true,
    read: readOrganizationAccount,
    idOf: (account) => account.id,
    // A member served twice means the Organization changed while paged, and one may have been stepped over: the
    // organization fails as one unit, as a Resource Directory does. The reason starts with the call's name, which
    // the error adds.
    unsettled: (reason) => {
      throw new IncompleteListingError(call, reason.slice(`${call}: `.length));
    },
    fetch: (query) => {
      const url = new URL(HUAWEI_ACCOUNTS_PATH, accounts.endpoint);
      for (const [key, value] of Object.entries(query)) url.searchParams.set(key, String(value));
      const headers = {
        "Content-Type": "application/json",
        ...(domainId ? { "X-Domain-Id": domainId } : {}),
      };
      return io.http.call({
        call,
        limiter,
        stats,
        signal: io.signal,
        redact: io.redact,
        timeoutMs: 20_000,
        classifyError: classifyHuaweiError,
        prepare: () => ({
          method: "GET",
          url,
          headers: authorizedHeaders({ method: "GET", url, headers }, credential),
        }),
      });
    },
  });
  const found: MemberAccount[] = [];
  for await (const { items } of pages) {
    for (const { id, name, status } of items) if (status === "active") found.push({ id, name });
  }
  return found;
}

/** The members an organization source sweeps: discovered now, filtered by `include`/`exclude`. */
export async function discoverAccounts(source: SourceConfig, io: DiscoveryIo): Promise<MemberAccount[]> {
  if (!("accounts" in source) || !source.accounts) return [];
  const members =
    source.accounts.from === "huawei-organizations"
      ? await listOrganizationAccounts(source as HuaweiSource, io)
      : await listDirectoryAccounts(source as AliyunSource, io);
  return members.filter((account) =>
    accountSelected(account, source.accounts as NonNullable<typeof source.accounts>),
  );
}
