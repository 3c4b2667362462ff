import { randomUUID } from "node:crypto";
import { canonicalRequest, sdkDate, signature } from "../lib/sources/huawei/signer.js";
import type { SimAnswer, SimRequest } from "./server.js";

export interface HuaweiAuthOptions {
  credentials: { accessKey: string; secretKey: string };
  /** An IAM token accepted in X-Auth-Token instead of a signature. */
  token?: string;
  /** The account the credentials belong to: a request naming another one in X-Domain-Id is refused. */
  domainId?: string;
  /**
   * Temporary keys the IAM simulator issued (sim/huawei-iam.ts): accepted with their X-Security-Token until they
   * expire, in the account of the agency they came from.
   */
  temporary?: TemporaryKeys;
}

/** One temporary AK/SK as IAM issues it through an agency. */
export interface TemporaryKey {
  accessKey: string;
  secretKey: string;
  securityToken: string;
  expiresAtMs: number;
  /** The account that delegated: the member whose resources the keys reach. */
  domainId: string;
  agencyName: string;
}

/**
 * The temporary keys an IAM simulator has issued, held by it and by every service simulator that accepts them, and
 * the clock they expire by (a test moves it to expire them mid-sweep).
 */
export class TemporaryKeys {
  private readonly keys = new Map<string, TemporaryKey>();

  constructor(readonly clock: () => number = Date.now) {}

  add(key: TemporaryKey): void {
    this.keys.set(key.accessKey, key);
  }

  get(accessKey: string): TemporaryKey | undefined {
    return this.keys.get(accessKey);
  }

  /** Every key issued, expired or not. */
  list(): TemporaryKey[] {
    return [...this.keys.values()];
  }
}

/** A request id as the gateway gives one, in the X-Request-Id header of every answer. */
export function requestId(): string {
  return randomUUID().replaceAll("-", "");
}

/** Huawei's error body, `{error_code, error_msg}`, with the request id in X-Request-Id. */
export function huaweiError(status: number, code: string, message: string): SimAnswer {
  return { status, body: { error_code: code, error_msg: message }, headers: { "X-Request-Id": requestId() } };
}

/** How far X-Sdk-Date may be from the gateway's clock. */
const SKEW_MS = 15 * 60_000;

/**
 * Global credentials name their account in X-Domain-Id; a request without it passes. What the gateway answers for
 * another account's id is not in the contract: this is the gateway's answer to credentials it cannot accept.
 */
function verifyDomain(request: SimRequest, expected: string | undefined): SimAnswer | undefined {
  const domainId = request.headers["x-domain-id"];
  if (!expected || domainId === undefined || domainId === expected) return undefined;
  return huaweiError(
    401,
    "APIGW.0301",
    "Incorrect IAM authentication information: X-Domain-Id is not the account of these credentials",
  );
}

/**
 * Checks an APIG AK/SK signature the way the gateway does (recompute it over the headers the client signed), or the
 * IAM token, then the account named in X-Domain-Id.
 */
export function verifyHuaweiAuth(request: SimRequest, options: HuaweiAuthOptions): SimAnswer | undefined {
  const temporary = options.temporary?.get(signedAccessKey(request) ?? "");
  if (temporary) {
    const denied =
      verifyTemporary(request, temporary, options.temporary as TemporaryKeys) ??
      verifyCredentials(request, { credentials: temporary });
    return denied ?? verifyDomain(request, temporary.domainId);
  }
  const denied = verifyCredentials(request, options);
  return denied ?? verifyDomain(request, options.domainId);
}

const AUTHORIZATION = /^SDK-HMAC-SHA256 Access=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/;

/** The access key a request's signature names, if it is signed at all. */
export function signedAccessKey(request: SimRequest): string | undefined {
  return AUTHORIZATION.exec(String(request.headers.authorization ?? ""))?.[1];
}

/**
 * Temporary keys go with their security token, and stop working when they expire. What the gateway answers then is
 * not in the contract (its errors for securitytokens are status only); this is APIG's documented answer to an
 * expired token: 401 APIGW.0301 "token expires".
 */
function verifyTemporary(request: SimRequest, key: TemporaryKey, keys: TemporaryKeys): SimAnswer | undefined {
  if (request.headers["x-security-token"] !== key.securityToken) {
    return huaweiError(
      401,
      "APIGW.0301",
      "Incorrect IAM authentication information: the security token is missing or does not match",
    );
  }
  if (keys.clock() >= key.expiresAtMs) {
    return huaweiError(
      401,
      "APIGW.0301",
      `Incorrect IAM authentication information: token expires, expires_at: ${new Date(key.expiresAtMs).toISOString()}`,
    );
  }
  return undefined;
}

function verifyCredentials(
  request: SimRequest,
  options: Pick<HuaweiAuthOptions, "credentials" | "token">,
): SimAnswer | undefined {
  if (options.token && request.headers["x-auth-token"] === options.token) return undefined;
  const authorization = String(request.headers.authorization ?? "");
  const match = AUTHORIZATION.exec(authorization);
  if (!match)
    return huaweiError(401, "APIGW.0301", "Incorrect IAM authentication information: no AK/SK signature");
  const [, accessKey, signedHeaders, given] = match as unknown as [string, string, string, string];
  if (accessKey !== options.credentials.accessKey) {
    return huaweiError(401, "APIGW.0301", "Incorrect IAM authentication information: unknown access key");
  }
  const date = String(request.headers["x-sdk-date"] ?? "");
  const parsed = Date.parse(
    date.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"),
  );
  if (Number.isNaN(parsed) || Math.abs(parsed - Date.now()) > SKEW_MS || sdkDate(new Date(parsed)) !== date) {
    return huaweiError(
      401,
      "APIGW.0303",
      "Incorrect app authentication information: X-Sdk-Date is missing or skewed",
    );
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(";")) headers[name] = String(request.headers[name] ?? "");
  const url = new URL(request.url.pathname + request.url.search, `http://${request.headers.host}`);
  const { text } = canonicalRequest({ method: request.method, url, headers, body: request.body });
  if (signature(options.credentials.secretKey, date, text) !== given) {
    return huaweiError(
      401,
      "APIGW.0301",
      "Incorrect IAM authentication information: signature does not match",
    );
  }
  return undefined;
}
