import { randomBytes } from "node:crypto";
import { type SigningKey, signedCall, type TemporaryKeyIssuer } from "./aliyun-cas.js";
import { type FaultOptions, type SimAnswer, SimServer, type SimRequest } from "./server.js";

/** A RAM role and its trust policy: who may assume it, and the `sts:ExternalId` condition. */
export interface StsRole {
  arn: string;
  /**
   * The principals the trust policy names: AccessKey ids of RAM users (in this or another account), ARNs of roles
   * whose sessions may assume this one (role chaining), and ARNs of OIDC providers (AssumeRoleWithOIDC).
   */
  trusted: string[];
  /** The trust policy's `sts:ExternalId` condition, when it has one. */
  externalId?: string;
  /** The role's MaxSessionDuration in seconds (3600 unless set; at most 43200). */
  maxSessionDuration?: number;
}

export interface StsSimulatorOptions extends FaultOptions {
  /** RAM users' AccessKeys that may call STS (a root account's keys cannot assume roles). */
  users: { accessKey: string; secretKey: string; root?: boolean }[];
  roles: StsRole[];
  /** OIDC identity providers registered in RAM, with the tokens they currently vouch for (tests rotate them). */
  oidcProviders?: { arn: string; tokens: string[] }[];
  /** STS's clock: temporary keys expire by it (tests move it with `advance`). */
  now?: () => number;
}

interface Issued {
  secretKey: string;
  securityToken: string;
  expiresAt: number;
  roleArn: string;
}

function stsError(status: number, code: string, message: string): SimAnswer {
  return {
    status,
    body: { RequestId: "sim-request", HostId: "sts.aliyuncs.com", Code: code, Message: message },
  };
}

function secret(bytes: number): string {
  return randomBytes(bytes).toString("base64url");
}

/** AssumeRoleWithOIDC is the one STS call sent unsigned: its Action travels in the query, with no Authorization. */
function isAnonymousOidcCall(request: SimRequest): boolean {
  return request.url.searchParams.get("Action") === "AssumeRoleWithOIDC" && !request.headers.authorization;
}

/** `2026-11-22T08:01:02Z`: the Expiration format of STS. */
function utcSeconds(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Alibaba Cloud STS `AssumeRole` (2015-04-01, vendor-contracts.json `aliyun.sts.AssumeRole`): signature-checked as
 * the CAS gateway checks it, the role's trust policy and ExternalId enforced, and temporary keys that expire by the
 * simulator's clock. Other simulators accept those keys through `signingKey` (a `TemporaryKeyIssuer`) while valid,
 * and so does STS itself: a role session may assume a role that trusts its role (the contract's
 * `MissingSecurityToken` error is for such callers). `AssumeRoleWithOIDC` is answered too (test/contract/
 * supplement.json: the shared contract lacks it).
 */
export class StsSimulator extends SimServer implements TemporaryKeyIssuer {
  /** AssumeRole requests answered with keys. */
  issuedCount = 0;
  private offsetMs = 0;
  private readonly issued = new Map<string, Issued>();
  private readonly clock: () => number;

  constructor(private readonly sts: StsSimulatorOptions) {
    const nonces = new Set<string>();
    super(
      (request) => {
        if (isAnonymousOidcCall(request)) return this.assumeRoleWithOidc(request);
        const versions = { AssumeRole: "2015-04-01" };
        const call = signedCall(request, versions, (key) => this.callerKey(key), nonces, stsError);
        return "params" in call ? this.assumeRole(call.caller, call.params) : call;
      },
      (fault) => {
        if (fault === "throttle")
          return stsError(400, "Throttling.User", "Request was denied due to user flow control.");
        // Keys without their secret or token: what a client must refuse to use.
        if (fault === "malformed")
          return {
            status: 200,
            body: { RequestId: "sim-request", Credentials: { AccessKeyId: "STS.partial" } },
          };
        return stsError(500, "InternalError", "The request processing has failed due to some unknown error.");
      },
      sts,
      "aliyun.sts",
    );
    this.clock = sts.now ?? Date.now;
  }

  /** STS's time: the clock given, moved by `advance`. */
  now(): number {
    return this.clock() + this.offsetMs;
  }

  /** Moves STS's clock (and so the expiry of every key it issued) forward. */
  advance(ms: number): void {
    this.offsetMs += ms;
  }

  /** Temporary keys this STS issued, for the simulators that accept them; `expired` by STS's clock. */
  signingKey(accessKeyId: string): SigningKey | undefined {
    const issued = this.issued.get(accessKeyId);
    if (!issued) return undefined;
    return {
      secretKey: issued.secretKey,
      securityToken: issued.securityToken,
      expired: this.now() >= issued.expiresAt,
    };
  }

  /** Every temporary secret and token issued: what no output or store may hold. */
  issuedSecrets(): string[] {
    return [...this.issued.values()].flatMap((keys) => [keys.secretKey, keys.securityToken]);
  }

  /** The role temporary keys stand for (a member account's simulator may serve by it). */
  roleOf(accessKeyId: string): string | undefined {
    return this.issued.get(accessKeyId)?.roleArn;
  }

  /** The account temporary keys act in: the one owning the role they were issued for (`acs:ram::<account>:role/…`). */
  accountOf(accessKeyId: string): string | undefined {
    return /^acs:ram::(\d+):role\//.exec(this.roleOf(accessKeyId) ?? "")?.[1];
  }

  /** AssumeRole answers with keys, by the account whose role was assumed. */
  issuedFor(accountId: string): number {
    return [...this.issued.values()].filter((keys) => keys.roleArn.startsWith(`acs:ram::${accountId}:role/`))
      .length;
  }

  /** A RAM user's keys, or temporary keys this STS issued: a role session may assume another role (chaining). */
  private callerKey(accessKey: string): SigningKey | undefined {
    return this.sts.users.find((user) => user.accessKey === accessKey) ?? this.signingKey(accessKey);
  }

  /** Keys of `roleArn` for `duration` seconds, and the answer both AssumeRole calls share. */
  private issue(roleArn: string, sessionName: string, duration: number): Record<string, unknown> {
    const accessKeyId = `STS.${secret(18)}`;
    const keys = {
      secretKey: secret(30),
      securityToken: `CAIS${secret(300)}`,
      expiresAt: this.now() + duration * 1000,
      roleArn,
    };
    this.issued.set(accessKeyId, keys);
    this.issuedCount++;
    return {
      RequestId: "sim-request",
      AssumedRoleUser: {
        Arn: `${roleArn}/${sessionName}`,
        AssumedRoleId: `3${secret(8)}:${sessionName}`,
      },
      Credentials: {
        AccessKeyId: accessKeyId,
        AccessKeySecret: keys.secretKey,
        SecurityToken: keys.securityToken,
        Expiration: utcSeconds(keys.expiresAt),
      },
    };
  }

  /** The role's duration rule (900 up to its MaxSessionDuration), or the error answer. */
  private durationOf(role: StsRole, params: URLSearchParams): number | SimAnswer {
    const max = role.maxSessionDuration ?? 3600;
    const duration = Number(params.get("DurationSeconds") ?? 3600);
    if (!Number.isInteger(duration) || duration < 900 || duration > max) {
      return stsError(
        400,
        "InvalidParameter.DurationSeconds",
        `The DurationSeconds must be from 900 to ${max} (the role's MaxSessionDuration).`,
      );
    }
    return duration;
  }

  /**
   * AssumeRoleWithOIDC as @alicloud/credentials sends it: anonymous, the parameters in a form body; the provider must
   * be registered, vouch for the token, and be trusted by the role (errors as STS's error-code page words them).
   */
  private assumeRoleWithOidc(request: SimRequest): SimAnswer {
    const query = request.url.searchParams;
    if (query.get("Version") !== "2015-04-01") {
      return stsError(404, "InvalidAction.NotFound", "Specified api AssumeRoleWithOIDC is not found.");
    }
    const timestamp = Date.parse(query.get("Timestamp") ?? "");
    if (Number.isNaN(timestamp) || Math.abs(timestamp - Date.now()) > 15 * 60_000) {
      return stsError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.");
    }
    const params = new URLSearchParams(request.body);
    const provider = this.sts.oidcProviders?.find((p) => p.arn === params.get("OIDCProviderArn"));
    if (!provider)
      return stsError(401, "AuthenticationFail.NoPermission", "No such OIDC Provider registered.");
    const token = params.get("OIDCToken") ?? "";
    if (!token) return stsError(401, "AuthenticationFail.OIDCToken.Invalid", "The OIDCToken can not empty.");
    if (!provider.tokens.includes(token)) {
      return stsError(401, "AuthenticationFail.OIDCToken.Expired", "This JsonWebToken is expired.");
    }
    const roleArn = params.get("RoleArn") ?? "";
    const sessionName = params.get("RoleSessionName") ?? "";
    const role = this.sts.roles.find((candidate) => candidate.arn === roleArn);
    if (!role) return stsError(404, "EntityNotExist.Role", "The role not exists.");
    if (!role.trusted.includes(provider.arn)) {
      return stsError(401, "AuthenticationFail.NoPermission", "There is no permission");
    }
    if (!/^[\w.@-]{2,64}$/.test(sessionName)) {
      return stsError(
        400,
        "InvalidParameter.RoleSessionName",
        "The parameter RoleSessionName is wrongly formed.",
      );
    }
    const duration = this.durationOf(role, params);
    if (typeof duration !== "number") return duration;
    const answer = this.issue(roleArn, sessionName, duration);
    const now = Math.floor(this.now() / 1000);
    return {
      status: 200,
      body: {
        ...answer,
        OIDCTokenInfo: {
          Issuer: "https://oidc.sim.local",
          Subject: "system:serviceaccount:certwatch:certwatch",
          ClientIds: "sts.aliyuncs.com",
          IssuanceTime: utcSeconds(now * 1000 - 60_000),
          ExpirationTime: utcSeconds(now * 1000 + 3_600_000),
        },
      },
    };
  }

  private assumeRole(caller: string, params: URLSearchParams): SimAnswer {
    const roleArn = params.get("RoleArn") ?? "";
    const sessionName = params.get("RoleSessionName") ?? "";
    if (!roleArn) return stsError(400, "MissingRoleArn", "RoleArn is mandatory for this action.");
    if (!sessionName)
      return stsError(400, "MissingRoleSessionName", "RoleSessionName is mandatory for this action.");
    if (!/^[\w.@-]{2,64}$/.test(sessionName)) {
      return stsError(
        400,
        "InvalidParameter.RoleSessionName",
        "The parameter RoleSessionName is wrongly formed.",
      );
    }
    if (this.sts.users.find((user) => user.accessKey === caller)?.root) {
      return stsError(403, "NoPermission", "Roles may not be assumed by root accounts.");
    }
    const role = this.sts.roles.find((candidate) => candidate.arn === roleArn);
    if (!role) return stsError(404, "EntityNotExist.Role", "The role not exists.");
    // A role session is trusted when the role it belongs to is: its AccessKey id is new at every AssumeRole.
    if (!role.trusted.includes(caller) && !role.trusted.includes(this.roleOf(caller) ?? "")) {
      return stsError(
        403,
        "NoPermission",
        "You are not authorized to do this action. You should be authorized by RAM.",
      );
    }
    if (role.externalId !== undefined && params.get("ExternalId") !== role.externalId) {
      return stsError(403, "NoPermission", "The ExternalId does not satisfy the role's trust policy.");
    }
    const duration = this.durationOf(role, params);
    if (typeof duration !== "number") return duration;
    return { status: 200, body: this.issue(roleArn, sessionName, duration) };
  }
}
