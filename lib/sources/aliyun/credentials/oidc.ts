import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { registerRuntimeSecret } from "../../../config/secrets.js";
import { classifyAliyunError } from "../client.js";
import { acsDate } from "../signer.js";
import { STS_VERSION, stsCredentialsOf } from "./sts.js";
import { type AliyunKeys, type CredentialIo, type CredentialSource, RenewingKeys } from "./types.js";

/*
 * The OIDC role of the vendor's chain, as @alicloud/credentials 2.4.7 sends it
 * (dist/src/providers/oidc_role_arn.js): STS AssumeRoleWithOIDC, anonymous (the OIDC token is the proof, nothing is
 * signed), POST to https://<sts endpoint>/ with Action, Version, Format and Timestamp in the query and the role,
 * provider, token, session name and duration as a form body. test/aliyun-credentials.test.ts holds our request to
 * theirs.
 */

const REQUIRED = [
  "ALIBABA_CLOUD_ROLE_ARN",
  "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
  "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
] as const;
/** The vendor's provider asks for an hour and takes no setting for it. */
const DURATION_SECONDS = 3600;

/**
 * The STS endpoint the vendor's provider picks: `sts.<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com` (`sts-vpc.` with
 * `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`), else `sts.aliyuncs.com`. `CERTWATCH_STS_ENDPOINT` points elsewhere
 * (tests, a proxy).
 */
export function oidcStsEndpoint(env: NodeJS.ProcessEnv): string {
  if (env.CERTWATCH_STS_ENDPOINT) return env.CERTWATCH_STS_ENDPOINT;
  const region = env.ALIBABA_CLOUD_STS_REGION;
  if (!region) return "https://sts.aliyuncs.com";
  const vpc = env.ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED?.toLowerCase() === "true";
  return `https://${vpc ? "sts-vpc" : "sts"}.${region}.aliyuncs.com`;
}

/** `name=value&...` with each value as encodeURIComponent gives it: the vendor's form and query encoding. */
function formEncoded(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join("&");
}

interface OidcRole {
  roleArn: string;
  providerArn: string;
  tokenFile: string;
  sessionName: string;
  endpoint: string;
}

/** The token as the file holds it now: the platform that mounts it (ACK, a CI runner) rotates it. */
async function readToken(tokenFile: string): Promise<string> {
  let token: string;
  try {
    // The vendor's provider sends the file as it is; a newline left by `echo` or an editor is not part of the JWT.
    token = (await readFile(tokenFile, "utf8")).trim();
  } catch (error) {
    throw new Error(
      `ALIBABA_CLOUD_OIDC_TOKEN_FILE ${tokenFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): check the path and that the token is mounted`,
      { cause: error },
    );
  }
  if (!token) throw new Error(`ALIBABA_CLOUD_OIDC_TOKEN_FILE ${tokenFile} is empty`);
  registerRuntimeSecret(token);
  return token;
}

async function assumeRoleWithOidc(role: OidcRole, io: CredentialIo): Promise<AliyunKeys> {
  const token = await readToken(role.tokenFile);
  const call = `AssumeRoleWithOIDC ${role.roleArn}`;
  const form = formEncoded({
    OIDCProviderArn: role.providerArn,
    OIDCToken: token,
    RoleArn: role.roleArn,
    RoleSessionName: role.sessionName,
    DurationSeconds: String(DURATION_SECONDS),
  });
  const scope = `aliyun-sts-oidc-${createHash("sha256").update(role.roleArn).digest("hex").slice(0, 16)}`;
  const answer = (await io.http.call({
    call,
    limiter: io.http.limiterFor(scope, 5, 2),
    stats: io.stats,
    signal: io.signal,
    redact: io.redact,
    timeoutMs: io.timeoutMs,
    classifyError: classifyAliyunError,
    prepare: () => {
      const url = new URL("/", role.endpoint);
      url.search = formEncoded({
        Version: STS_VERSION,
        Action: "AssumeRoleWithOIDC",
        Format: "JSON",
        Timestamp: acsDate(new Date()),
      });
      return {
        method: "POST",
        url,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form,
      };
    },
  })) as Record<string, unknown> | undefined;
  return stsCredentialsOf(answer ?? {}, call);
}

/**
 * The OIDC role: `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` and `ALIBABA_CLOUD_OIDC_TOKEN_FILE`
 * (with `ALIBABA_CLOUD_ROLE_SESSION_NAME`), exchanged through STS AssumeRoleWithOIDC for temporary keys that are
 * renewed before they expire, the token file read again at each renewal. Undefined when none of the three is set;
 * an error naming what is missing when only some are.
 */
export function fromOidcRole(env: NodeJS.ProcessEnv = process.env): CredentialSource | undefined {
  const missing = REQUIRED.filter((name) => !env[name]);
  if (missing.length === REQUIRED.length) return undefined;
  if (missing.length > 0) {
    throw new Error(`the OIDC role needs ${missing.join(" and ")} too (set all of ${REQUIRED.join(", ")})`);
  }
  const role: OidcRole = {
    roleArn: env.ALIBABA_CLOUD_ROLE_ARN as string,
    providerArn: env.ALIBABA_CLOUD_OIDC_PROVIDER_ARN as string,
    tokenFile: env.ALIBABA_CLOUD_OIDC_TOKEN_FILE as string,
    sessionName: env.ALIBABA_CLOUD_ROLE_SESSION_NAME || "certwatch",
    endpoint: oidcStsEndpoint(env),
  };
  return new RenewingKeys(
    `from the OIDC role ${role.roleArn} (STS AssumeRoleWithOIDC with the token in ALIBABA_CLOUD_OIDC_TOKEN_FILE)`,
    (io) => assumeRoleWithOidc(role, io),
  );
}
