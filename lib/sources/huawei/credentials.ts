import { createHash } from "node:crypto";
import type { SourceConfig } from "../../config/schema.js";
import { registerRuntimeSecret } from "../../config/secrets.js";
import { ApiError, type HttpClient } from "../http.js";
import { pacingOf } from "../scope.js";
import type { CollectContext } from "../types.js";
import { classifyHuaweiError } from "./client.js";
import { authorizedHeaders } from "./signer.js";

type HuaweiSource = Extract<SourceConfig, { type: `huawei-${string}` }>;
type Agency = NonNullable<HuaweiSource["credentials"]["assumeAgency"]>;

/** What signs a call: an AK/SK pair (with the security token of temporary keys) or an IAM token. */
export type HuaweiCredential =
  | { kind: "aksk"; accessKey: string; secretKey: string; securityToken?: string }
  | { kind: "token"; token: string };

/** Temporary keys from an agency, and when IAM says they end. */
export interface TemporaryCredential {
  kind: "aksk";
  accessKey: string;
  secretKey: string;
  securityToken: string;
  expiresAtMs: number;
  /** When they were obtained: the lifetime the refresh margin is a share of. */
  obtainedAtMs: number;
}

/**
 * The environment variables of the vendor's SDKs (EnvCredentialProvider in huaweicloud-sdk-*: `HUAWEICLOUD_SDK_AK`,
 * `HUAWEICLOUD_SDK_SK`, `HUAWEICLOUD_SDK_SECURITY_TOKEN`, and the scope `HUAWEICLOUD_SDK_DOMAIN_ID` for global
 * services, `HUAWEICLOUD_SDK_PROJECT_ID` for regional ones). Read when a source names no keys.
 */
export const ENV = {
  accessKey: "HUAWEICLOUD_SDK_AK",
  secretKey: "HUAWEICLOUD_SDK_SK",
  securityToken: "HUAWEICLOUD_SDK_SECURITY_TOKEN",
  domainId: "HUAWEICLOUD_SDK_DOMAIN_ID",
  projectId: "HUAWEICLOUD_SDK_PROJECT_ID",
} as const;

/** IAM's global endpoint; `securitytokens` is served on the regional ones too. */
export const DEFAULT_IAM_ENDPOINT = "https://iam.myhuaweicloud.com";
const SECURITY_TOKENS = "/v3.0/OS-CREDENTIAL/securitytokens";
const CALL = "CreateTemporaryAccessKeyByAgency";
/** IAM's default and least duration. */
const DEFAULT_DURATION_SECONDS = 900;
/** Temporary keys are renewed when less than this is left, or less than REFRESH_SHARE of their lifetime. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
const REFRESH_SHARE = 0.1;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** Whether the source names no keys and no token, so that the vendor's environment variables are used. */
export function usesEnvironment(source: HuaweiSource): boolean {
  const { credentials } = source;
  return !credentials.token && !credentials.accessKey && !credentials.secretKey;
}

/**
 * The source's own credential: its keys or token as configured, else the vendor's environment variables. Fails,
 * naming both ways, when there is neither.
 */
export function baseCredential(source: HuaweiSource, env: NodeJS.ProcessEnv = process.env): HuaweiCredential {
  const { credentials } = source;
  if (credentials.token) return { kind: "token", token: credentials.token };
  if (credentials.accessKey && credentials.secretKey) {
    return {
      kind: "aksk",
      accessKey: credentials.accessKey,
      secretKey: credentials.secretKey,
      ...(credentials.securityToken ? { securityToken: credentials.securityToken } : {}),
    };
  }
  const accessKey = nonEmpty(env[ENV.accessKey]);
  const secretKey = nonEmpty(env[ENV.secretKey]);
  if (!accessKey || !secretKey) {
    throw new Error(
      `${source.name}: no Huawei credentials: the source gives no credentials.accessKey and secretKey (or token), ` +
        `and ${ENV.accessKey} and ${ENV.secretKey} are not both set in the environment`,
    );
  }
  const securityToken = nonEmpty(env[ENV.securityToken]);
  // Not in the config, so not among its secrets: masked wherever they might be echoed all the same.
  registerRuntimeSecret(secretKey, securityToken);
  return { kind: "aksk", accessKey, secretKey, ...(securityToken ? { securityToken } : {}) };
}

/**
 * The account and project a call is scoped to: an Organization member's own account (never a project: the source's
 * is the management account's), else the source's own, else the assumed agency's account (the member the
 * temporary keys belong to), else, with keys from the environment, the SDK's variables.
 */
export function scopeOf(
  source: HuaweiSource,
  env: NodeJS.ProcessEnv = process.env,
): { domainId?: string; projectId?: string } {
  // A member of an Organization: its own account, whatever the source says of the management account's.
  if (source.account) return { domainId: source.account.id };
  const fromEnv = usesEnvironment(source);
  const domainId =
    ("domainId" in source ? source.domainId : undefined) ??
    source.credentials.assumeAgency?.domainId ??
    (fromEnv ? nonEmpty(env[ENV.domainId]) : undefined);
  const projectId =
    source.type === "huawei-scm"
      ? (source.projectId ??
        (fromEnv && !source.credentials.assumeAgency ? nonEmpty(env[ENV.projectId]) : undefined))
      : undefined;
  return { ...(domainId ? { domainId } : {}), ...(projectId ? { projectId } : {}) };
}

/**
 * The agency an Organization member's unit is swept through (`accounts`): the configured agency in the member's
 * account, its account id being the domain id IAM takes, assumed with the source's own keys.
 */
export function memberAgency(source: HuaweiSource): Agency | undefined {
  const { account, accounts } = source;
  if (!account || !accounts) return undefined;
  return {
    agencyName: accounts.role,
    domainId: account.id,
    durationSeconds: accounts.durationSeconds,
    ...(accounts.stsEndpoint ? { endpoint: accounts.stsEndpoint } : {}),
  };
}

/** Whether temporary keys should be renewed now: less than 5 minutes or 10% of their lifetime left. */
export function needsRefresh(credential: TemporaryCredential, nowMs: number): boolean {
  const left = credential.expiresAtMs - nowMs;
  const lifetime = credential.expiresAtMs - credential.obtainedAtMs;
  return left < REFRESH_MARGIN_MS || left < lifetime * REFRESH_SHARE;
}

/**
 * A 401 that says the temporary keys are no longer good: the gateway's "token expires" (APIGW.0301) or its
 * "token must be updated" (APIGW.0307). Anything else (a bad signature, access denied) is not helped by new keys.
 */
export function isExpiredCredential(error: unknown): boolean {
  if (!(error instanceof ApiError) || error.detail.status !== 401) return false;
  const { code = "", vendorMessage = "" } = error.detail;
  return /^APIGW?\.0307$/.test(code) || /expire/i.test(vendorMessage);
}

function describeAgency(agency: Agency): string {
  const domain = agency.domainId ? `domain ${agency.domainId}` : `domain name ${agency.domainName ?? ""}`;
  return `agency ${agency.agencyName} in ${domain}`;
}

function readCredential(body: unknown, nowMs: number): TemporaryCredential {
  const credential = (body as { credential?: Record<string, unknown> } | undefined)?.credential;
  const field = (name: string): string => {
    const value = credential?.[name];
    if (typeof value !== "string" || value === "") {
      throw new Error(`${CALL} returned a malformed answer: credential.${name} is missing`);
    }
    return value;
  };
  const expiresAt = field("expires_at");
  const expiresAtMs = Date.parse(expiresAt);
  if (Number.isNaN(expiresAtMs)) {
    throw new Error(
      `${CALL} returned a malformed answer: credential.expires_at ${JSON.stringify(expiresAt)}`,
    );
  }
  const secretKey = field("secret");
  const securityToken = field("securitytoken");
  registerRuntimeSecret(secretKey, securityToken);
  return {
    kind: "aksk",
    accessKey: field("access"),
    secretKey,
    securityToken,
    expiresAtMs,
    obtainedAtMs: nowMs,
  };
}

/**
 * One agency's temporary keys for one base credential: obtained on first use, kept while they have more than the
 * refresh margin left, renewed once by every caller waiting at the same time.
 */
export class AgencyCredentials {
  private current: TemporaryCredential | undefined;
  private pending: Promise<TemporaryCredential> | undefined;
  /** IAM calls made: what the tests hold to "no more than needed". */
  calls = 0;

  constructor(
    private readonly agency: Agency,
    private readonly base: HuaweiCredential,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(source: HuaweiSource, context: CollectContext): Promise<TemporaryCredential> {
    const current = this.current;
    if (current && !needsRefresh(current, this.clock())) return current;
    this.pending ??= this.obtain(source, context).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** The keys were refused as expired: the next `get` obtains new ones, unless someone already did. */
  invalidate(refused: TemporaryCredential): void {
    if (this.current === refused) this.current = undefined;
  }

  private async obtain(source: HuaweiSource, context: CollectContext): Promise<TemporaryCredential> {
    const { agency } = this;
    const url = new URL(SECURITY_TOKENS, agency.endpoint ?? DEFAULT_IAM_ENDPOINT);
    const body = JSON.stringify({
      auth: {
        identity: {
          methods: ["assume_role"],
          assume_role: {
            agency_name: agency.agencyName,
            ...(agency.domainId ? { domain_id: agency.domainId } : { domain_name: agency.domainName }),
            duration_seconds: agency.durationSeconds ?? DEFAULT_DURATION_SECONDS,
          },
        },
      },
    });
    const { limiter, timeoutMs } = pacingOf(source, context.http);
    this.calls++;
    let answer: unknown;
    try {
      answer = await context.http.call({
        call: CALL,
        limiter,
        stats: context.stats,
        signal: context.signal,
        redact: context.redact,
        timeoutMs,
        classifyError: classifyHuaweiError,
        prepare: () => ({
          method: "POST",
          url,
          headers: authorizedHeaders(
            { method: "POST", url, headers: { "Content-Type": "application/json" }, body },
            this.base,
          ),
          body,
        }),
      });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const refused = error.detail.status === 403 || error.detail.status === 401;
      const hint = refused
        ? `: check that the ${describeAgency(agency)} exists and trusts the account of the source's keys ` +
          "(its delegated party), and that they may call IAM securitytokens"
        : "";
      throw new ApiError(
        CALL,
        error.detail,
        `${source.name}: could not assume ${describeAgency(agency)}: ${error.message}${hint}`,
      );
    }
    const credential = readCredential(answer, this.clock());
    this.current = credential;
    return credential;
  }
}

/**
 * Temporary keys are shared by every source (and every run of a warm container) on the same HTTP client that
 * assumes the same agency with the same keys: a sweep asks IAM once per credential lifetime, not once per source.
 */
const providers = new WeakMap<HttpClient, Map<string, AgencyCredentials>>();

function providerKey(agency: Agency, base: HuaweiCredential): string {
  const identity = base.kind === "token" ? base.token : `${base.accessKey}:${base.secretKey}`;
  return createHash("sha256")
    .update(
      JSON.stringify([
        identity,
        agency.agencyName,
        agency.domainId ?? "",
        agency.domainName ?? "",
        agency.durationSeconds ?? DEFAULT_DURATION_SECONDS,
        agency.endpoint ?? DEFAULT_IAM_ENDPOINT,
      ]),
    )
    .digest("hex");
}

export function agencyCredentials(
  http: HttpClient,
  agency: Agency,
  base: HuaweiCredential,
): AgencyCredentials {
  let byKey = providers.get(http);
  if (!byKey) {
    byKey = new Map();
    providers.set(http, byKey);
  }
  const key = providerKey(agency, base);
  let provider = byKey.get(key);
  if (!provider) {
    provider = new AgencyCredentials(agency, base);
    byKey.set(key, provider);
  }
  return provider;
}
