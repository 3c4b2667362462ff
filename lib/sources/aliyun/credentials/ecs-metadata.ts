import { request } from "undici";
import { registerRuntimeSecret } from "../../../config/secrets.js";
import { type AliyunKeys, type CredentialSource, expirationOf, RenewingKeys } from "./types.js";

/** The instance metadata service; `CERTWATCH_ECS_METADATA_URL` points elsewhere (tests, a proxy). */
const METADATA_URL = "http://100.100.100.200";
/** How long the metadata token the vendor's SDK asks for lives (6 hours). */
const TOKEN_TTL_SECONDS = 21_600;
/** The metadata service answers at once on ECS; anywhere else nothing answers, and the chain must not wait long. */
const METADATA_TIMEOUT_MS = 2_000;

function metadataUrl(env: NodeJS.ProcessEnv): string {
  return (env.CERTWATCH_ECS_METADATA_URL || METADATA_URL).replace(/\/+$/, "");
}

async function ask(url: string, method: "GET" | "PUT", headers: Record<string, string>): Promise<string> {
  const response = await request(url, {
    method,
    headers,
    headersTimeout: METADATA_TIMEOUT_MS,
    bodyTimeout: METADATA_TIMEOUT_MS,
    signal: AbortSignal.timeout(METADATA_TIMEOUT_MS),
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) {
    // The path names the call; the body is not quoted, since it may hold keys.
    throw new Error(
      `ECS instance metadata ${method} ${new URL(url).pathname} answered HTTP ${response.statusCode}`,
    );
  }
  return text;
}

/** One round: a metadata token (PUT /latest/api/token), the role's name unless given, then its temporary keys. */
async function fetchRoleKeys(base: string, roleName: string | undefined): Promise<AliyunKeys> {
  const token = await ask(`${base}/latest/api/token`, "PUT", {
    "x-aliyun-ecs-metadata-token-ttl-seconds": String(TOKEN_TTL_SECONDS),
  });
  const headers = { "x-aliyun-ecs-metadata-token": token };
  const list = `${base}/latest/meta-data/ram/security-credentials/`;
  const role = roleName || (await ask(list, "GET", headers)).trim().split(/\s+/)[0];
  if (!role) throw new Error("ECS instance metadata: the instance has no RAM role");
  const text = await ask(`${list}${encodeURIComponent(role)}`, "GET", headers);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`ECS instance metadata: the keys of RAM role ${role} are not JSON`);
  }
  const { AccessKeyId, AccessKeySecret, SecurityToken, Code } = body;
  if (Code !== "Success" || typeof AccessKeyId !== "string" || typeof AccessKeySecret !== "string") {
    throw new Error(`ECS instance metadata: RAM role ${role} gave no keys (Code ${JSON.stringify(Code)})`);
  }
  if (typeof SecurityToken !== "string")
    throw new Error(`ECS instance metadata: RAM role ${role} gave no token`);
  registerRuntimeSecret(AccessKeySecret, SecurityToken);
  return {
    accessKey: AccessKeyId,
    secretKey: AccessKeySecret,
    securityToken: SecurityToken,
    expiresAt: expirationOf(body.Expiration, `ECS instance metadata, RAM role ${role}`),
  };
}

/**
 * The ECS instance's RAM role, from instance metadata with its token (IMDSv2), renewed before it expires. The role
 * is `roleName`, `ALIBABA_CLOUD_ECS_METADATA`, or the one the instance reports. Off with
 * `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`.
 */
export function fromEcsMetadata(
  env: NodeJS.ProcessEnv = process.env,
  roleName = env.ALIBABA_CLOUD_ECS_METADATA,
): CredentialSource | undefined {
  if (env.ALIBABA_CLOUD_ECS_METADATA_DISABLED?.toLowerCase() === "true") return undefined;
  const base = metadataUrl(env);
  return new RenewingKeys(
    `from the ECS instance's RAM role${roleName ? ` ${roleName}` : ""} (instance metadata)`,
    () => fetchRoleKeys(base, roleName),
  );
}
