import { type SigningKey, signedCall, type TemporaryKeyIssuer } from "./aliyun-cas.js";
import { type FaultOptions, type SimAnswer, SimServer } from "./server.js";

/** A member of the directory, as ListAccounts shows it. */
export interface DirectoryAccount {
  AccountId: string;
  DisplayName: string;
  /** `CreateSuccess` unless set (the contract's enum). */
  Status?: string;
  FolderId?: string;
  Type?: "ResourceAccount" | "CloudAccount";
  JoinMethod?: "invited" | "created";
}

export interface ResourceManagerSimulatorOptions extends FaultOptions {
  /** The management account's (or a delegated administrator's) keys: the only ones allowed to list members. */
  users: { accessKey: string; secretKey: string }[];
  /** Roles of the management account whose sessions may list members too, with the STS that issued their keys. */
  roles?: {
    issuer: TemporaryKeyIssuer & { roleOf(accessKeyId: string): string | undefined };
    arns: string[];
  };
  /** The directory's members; tests add and remove entries between runs. */
  accounts: DirectoryAccount[];
}

function rmError(status: number, code: string, message: string): SimAnswer {
  return {
    status,
    body: { RequestId: "sim-request", HostId: "resourcemanager.aliyuncs.com", Code: code, Message: message },
  };
}

/**
 * Alibaba Cloud Resource Directory `ListAccounts` (ResourceManager 2020-03-31, vendor-contracts.json
 * `aliyun.resourcemanager.ListAccounts`): signature-checked as the CAS gateway checks it (sim/aliyun-cas.ts
 * `verifyAcs3`), `PageNumber` (1-based) and `PageSize` (1 to 100, default 10), `TotalCount`, and the members under
 * `Accounts.Account[]`.
 */
export class ResourceManagerSimulator extends SimServer {
  /** ListAccounts requests answered. */
  listCalls = 0;

  constructor(private readonly directory: ResourceManagerSimulatorOptions) {
    const nonces = new Set<string>();
    super(
      (request) => {
        const versions = { ListAccounts: "2020-03-31" };
        const call = signedCall(request, versions, (key) => this.callerKey(key), nonces, rmError);
        return "params" in call ? this.listAccounts(call.params) : call;
      },
      (fault) => {
        if (fault === "throttle")
          return rmError(400, "Throttling.User", "Request was denied due to user flow control.");
        // A member without its id: what discovery must refuse rather than sweep as someone else.
        if (fault === "malformed") {
          return {
            status: 200,
            body: {
              RequestId: "sim-request",
              TotalCount: 1,
              Accounts: { Account: [{ DisplayName: "no-id" }] },
            },
          };
        }
        return rmError(500, "InternalError", "The request processing has failed due to some unknown error.");
      },
      directory,
      "aliyun.resourcemanager",
    );
  }

  private callerKey(accessKey: string): SigningKey | undefined {
    const user = this.directory.users.find((candidate) => candidate.accessKey === accessKey);
    if (user) return user;
    const roles = this.directory.roles;
    const role = roles?.issuer.roleOf(accessKey);
    return role && roles?.arns.includes(role) ? roles.issuer.signingKey(accessKey) : undefined;
  }

  private listAccounts(params: URLSearchParams): SimAnswer {
    const page = Number(params.get("PageNumber") ?? 1);
    const size = Number(params.get("PageSize") ?? 10);
    if (!Number.isInteger(page) || page < 1)
      return rmError(400, "InvalidParameter.PageNumber", "The PageNumber is invalid.");
    if (!Number.isInteger(size) || size < 1 || size > 100)
      return rmError(400, "InvalidParameter.PageSize", "The PageSize is invalid (1 to 100).");
    this.listCalls++;
    const all = this.directory.accounts;
    const joined = "2021-01-18T08:01:50.522Z";
    return {
      status: 200,
      body: {
        RequestId: "sim-request",
        PageNumber: page,
        PageSize: size,
        TotalCount: all.length,
        Accounts: {
          Account: all.slice((page - 1) * size, page * size).map((account) => ({
            AccountId: account.AccountId,
            DisplayName: account.DisplayName,
            Status: account.Status ?? "CreateSuccess",
            FolderId: account.FolderId ?? "fd-sim0001",
            Type: account.Type ?? "ResourceAccount",
            JoinMethod: account.JoinMethod ?? "created",
            JoinTime: joined,
            ModifyTime: joined,
            ResourceDirectoryId: "rd-sim001",
            ResourceDirectoryPath: `rd-sim001/r-sim001/${account.FolderId ?? "fd-sim0001"}/${account.AccountId}`,
          })),
        },
      },
    };
  }
}
