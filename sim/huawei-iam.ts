import { randomBytes } from "node:crypto";
import {
  huaweiError as error,
  requestId,
  signedAccessKey,
  type TemporaryKeys,
  verifyHuaweiAuth,
} from "./huawei-auth.js";
import { type FaultOptions, type SimAnswer, type SimRequest, SimServer } from "./server.js";

/** An IAM user's permanent keys, in the account (domain) they belong to. */
export interface IamAccount {
  accessKey: string;
  secretKey: string;
  domainId: string;
  domainName?: string;
}

/** An agency in an account, and the accounts it delegates to (its trusted party). */
export interface IamAgency {
  domainId: string;
  domainName?: string;
  agencyName: string;
  /** Accounts (domain ids) whose users may assume it. */
  trusts: string[];
}

export interface IamSimulatorOptions extends FaultOptions {
  accounts: IamAccount[];
  agencies: IamAgency[];
  /** Where issued keys are kept, with the clock they expire by; the service simulators hold the same object. */
  temporary: TemporaryKeys;
}

export type IamSim = SimServer & {
  /** Every securitytokens request that was granted, in order. */
  issued: { agencyName: string; domainId: string; by: string; durationSeconds: number }[];
};

const PATH = "/v3.0/OS-CREDENTIAL/securitytokens";
const MIN_DURATION = 900;
const MAX_DURATION = 86_400;

// The contract gives status codes only for securitytokens, and IAM.0007 for invalid parameters; the codes of the
// refusals below are the simulator's own, in Huawei's {error_code, error_msg} shape.
const invalid = (message: string) => error(400, "IAM.0007", `The request parameter is invalid: ${message}`);

/** `2020-01-08T03:50:07.574000Z`: UTC with microseconds, as IAM writes expires_at. */
function expiresAt(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function secret(bytes: number, encoding: "hex" | "base64url" = "hex"): string {
  return randomBytes(bytes).toString(encoding);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Huawei IAM `POST /v3.0/OS-CREDENTIAL/securitytokens` with `assume_role` (CreateTemporaryAccessKeyByAgency):
 * signed with an account's permanent AK/SK (checked like the gateway does); the agency must exist in the named
 * domain (`domain_id` or `domain_name`) and trust the caller's account, else 403; `duration_seconds` 900 to 86400
 * (default 900), else 400 IAM.0007. Answers 201 with `credential {access, secret, securitytoken, expires_at}`, and
 * the keys work at the service simulators holding the same `temporary` store until its clock passes expires_at.
 */
export function iamSimulator(options: IamSimulatorOptions): IamSim {
  const issued: IamSim["issued"] = [];
  const { temporary } = options;

  const handle = (request: SimRequest): SimAnswer => {
    if (request.method !== "POST" || request.url.pathname !== PATH) {
      return error(404, "APIGW.0101", "The API does not exist or has not been published in the environment");
    }
    const accessKey = signedAccessKey(request);
    const account = options.accounts.find((candidate) => candidate.accessKey === accessKey);
    const denied = verifyHuaweiAuth(request, {
      credentials: account ?? { accessKey: "", secretKey: "" },
    });
    if (denied || !account) {
      return denied ?? error(401, "APIGW.0301", "Incorrect IAM authentication information");
    }
    let body: unknown;
    try {
      body = JSON.parse(request.body) as unknown;
    } catch {
      return invalid("the body is not JSON");
    }
    const identity = isRecord(body) && isRecord(body.auth) ? body.auth.identity : undefined;
    if (!isRecord(identity)) return invalid("auth.identity is required");
    const methods = identity.methods;
    if (!Array.isArray(methods) || methods.length !== 1 || methods[0] !== "assume_role") {
      return invalid('auth.identity.methods must be ["assume_role"]');
    }
    const assume = identity.assume_role;
    if (!isRecord(assume)) return invalid("auth.identity.assume_role is required");
    const { agency_name: agencyName, domain_id: domainId, domain_name: domainName } = assume;
    const duration = assume.duration_seconds ?? MIN_DURATION;
    if (typeof agencyName !== "string" || agencyName === "") return invalid("agency_name is required");
    if (typeof domainId !== "string" && typeof domainName !== "string") {
      return invalid("domain_id or domain_name is required");
    }
    if (
      !Number.isInteger(duration) ||
      (duration as number) < MIN_DURATION ||
      (duration as number) > MAX_DURATION
    ) {
      return invalid(`duration_seconds must be from ${MIN_DURATION} to ${MAX_DURATION}`);
    }
    const agency = options.agencies.find(
      (candidate) =>
        candidate.agencyName === agencyName &&
        (typeof domainId === "string"
          ? candidate.domainId === domainId
          : candidate.domainName !== undefined && candidate.domainName === domainName),
    );
    const where = typeof domainId === "string" ? `domain ${domainId}` : `domain name ${String(domainName)}`;
    if (!agency || !agency.trusts.includes(account.domainId)) {
      // Whether the agency is missing or does not trust the caller, IAM does not say which.
      return error(
        403,
        "IAM.0003",
        `Forbidden: the agency ${agencyName} in ${where} cannot be assumed by account ${account.domainId}`,
      );
    }
    const expires = temporary.clock() + (duration as number) * 1000;
    const key = {
      accessKey: `TMP${secret(10).toUpperCase()}`,
      secretKey: secret(20),
      securityToken: `gQ${secret(96, "base64url")}`,
      expiresAtMs: expires,
      domainId: agency.domainId,
      agencyName,
    };
    temporary.add(key);
    issued.push({
      agencyName,
      domainId: agency.domainId,
      by: account.domainId,
      durationSeconds: duration as number,
    });
    return {
      status: 201,
      headers: { "X-Request-Id": requestId() },
      body: {
        credential: {
          access: key.accessKey,
          secret: key.secretKey,
          securitytoken: key.securityToken,
          expires_at: expiresAt(expires),
        },
      },
    };
  };

  const server = new SimServer(
    handle,
    (fault) =>
      fault === "throttle"
        ? error(429, "APIGW.0308", "The throttling threshold has been reached")
        : error(500, "IAM.0006", "System error"),
    options,
    "huawei.iam",
  );
  return Object.assign(server, { issued });
}
