import { randomBytes } from "node:crypto";
import { type SigningKey, signedCall, type TemporaryKeyIssuer } from "./aliyun-cas.js";
import { type FaultOptions, type SimAnswer, SimServer } from "./server.js";

/** A RAM role and its trust policy: which AccessKeys may assume it, and the `sts:ExternalId` condition. */
export interface StsRole {
  arn: string;
  /** AccessKey ids of the RAM users (in this or another account) the trust policy names. */
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

/** `2026-11-22T08:01:02Z`: the Expiration format of STS. */
function utcSeconds(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Alibaba Cloud STS `AssumeRole` (2015-04-01, vendor-contracts.json `aliyun.sts.AssumeRole`): signature-checked as
 * the CAS gateway checks it, the role's trust policy and ExternalId enforced, and temporary keys that expire by the
 * simulator's clock. Other simulators accept those keys through `signingKey` (a `TemporaryKeyIssuer`) while valid.
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
        const versions = { AssumeRole: "2015-04-01" };
        const call = signedCall(request, versions, (key) => this.callerKey(key), nonces, stsError);
        return "params" in call ? this.assumeRole(call.caller, call.params) : call;
      },
      () => stsError(500, "InternalError", "The request processing has failed due to some unknown error."),
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

  private callerKey(accessKey: string): SigningKey | undefined {
    return this.sts.users.find((user) => user.accessKey === accessKey);
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
    if (!role.trusted.includes(caller)) {
      return stsError(
        403,
        "NoPermission",
        "You are not authorized to do this action. You should be authorized by RAM.",
      );
    }
    if (role.externalId !== undefined && params.get("ExternalId") !== role.externalId) {
      return stsError(403, "NoPermission", "The ExternalId does not satisfy the role's trust policy.");
    }
    const max = role.maxSessionDuration ?? 3600;
    const duration = Number(params.get("DurationSeconds") ?? 3600);
    if (!Number.isInteger(duration) || duration < 900 || duration > max) {
      return stsError(
        400,
        "InvalidParameter.DurationSeconds",
        `The DurationSeconds must be from 900 to ${max} (the role's MaxSessionDuration).`,
      );
    }
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
      status: 200,
      body: {
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
      },
    };
  }
}
