import { createHash, randomUUID } from "node:crypto";
import { registerRuntimeSecret } from "../../../config/secrets.js";
import { ApiError } from "../../http.js";
import { classifyAliyunError, rpcQuery } from "../client.js";
import { signCall } from "../signer.js";
import {
  type AliyunKeys,
  type CredentialIo,
  type CredentialSource,
  expirationOf,
  RenewingKeys,
} from "./types.js";

export const STS_VERSION = "2015-04-01";
export const DEFAULT_STS_ENDPOINT = "https://sts.aliyuncs.com";

/** What AssumeRole is asked for (the config's `credentials.assumeRole`, or a credentials file's ram_role_arn). */
export interface RoleToAssume {
  roleArn: string;
  externalId?: string;
  sessionName: string;
  durationSeconds: number;
  endpoint?: string;
}

/** The answer's code that means temporary keys ran out: their owner gets new ones once, then the call is retried. */
export const EXPIRED_TOKEN = "InvalidSecurityToken.Expired";

export function isExpiredToken(error: unknown): boolean {
  return error instanceof ApiError && error.detail.code === EXPIRED_TOKEN;
}

/** One STS AssumeRole call signed with `base`'s keys; the temporary keys are registered as secrets before use. */
async function callAssumeRole(role: RoleToAssume, base: AliyunKeys, io: CredentialIo): Promise<AliyunKeys> {
  const url = new URL("/", role.endpoint ?? DEFAULT_STS_ENDPOINT);
  url.search = rpcQuery({
    RoleArn: role.roleArn,
    RoleSessionName: role.sessionName,
    DurationSeconds: role.durationSeconds,
    ...(role.externalId === undefined ? {} : { ExternalId: role.externalId }),
  });
  // STS has its own budget per caller; a handful of calls per credential lifetime never comes near it.
  const scope = `aliyun-sts-${createHash("sha256").update(base.accessKey).digest("hex").slice(0, 16)}`;
  const call = `AssumeRole ${role.roleArn}`;
  const body = (await io.http.call({
    call,
    limiter: io.http.limiterFor(scope, 5, 2),
    stats: io.stats,
    signal: io.signal,
    redact: io.redact,
    timeoutMs: io.timeoutMs,
    classifyError: classifyAliyunError,
    prepare: () => ({
      method: "POST",
      url,
      headers: signCall(
        { action: "AssumeRole", version: STS_VERSION, method: "POST", url },
        base,
        new Date(),
        randomUUID(),
      ),
    }),
  })) as Record<string, unknown> | undefined;
  const credentials = (body?.Credentials ?? {}) as Record<string, unknown>;
  const field = (name: string): string => {
    const value = credentials[name];
    if (typeof value !== "string" || value === "") {
      throw new Error(`${call} returned a malformed answer: Credentials.${name} is missing`);
    }
    return value;
  };
  const keys = {
    accessKey: field("AccessKeyId"),
    secretKey: field("AccessKeySecret"),
    securityToken: field("SecurityToken"),
    expiresAt: expirationOf(credentials.Expiration, `${call}: Credentials`),
  };
  registerRuntimeSecret(keys.secretKey, keys.securityToken);
  return keys;
}

/**
 * Temporary keys of `role`, assumed with `base`'s keys and renewed before they expire. Base keys that are temporary
 * themselves (an ECS role, a profile's STS token) and refused as expired are renewed once and the call sent again.
 */
export function assumedRole(role: RoleToAssume, base: CredentialSource): CredentialSource {
  return new RenewingKeys(
    () => `assumed role ${role.roleArn} via STS, with keys ${base.description}`,
    async (io) => {
      const keys = await base.get(io);
      try {
        return await callAssumeRole(role, keys, io);
      } catch (error) {
        if (!isExpiredToken(error) || !base.renew) throw error;
        return callAssumeRole(role, await base.renew(io, keys), io);
      }
    },
  );
}
