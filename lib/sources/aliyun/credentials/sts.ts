import { createHash } from "node:crypto";
import { aliyunRpc } from "../client.js";
import { type AliyunKeys, type CredentialSource, RenewingKeys, temporaryKeysOf } from "./types.js";

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

/** The temporary keys of an STS answer (`Credentials`, the same in AssumeRole and AssumeRoleWithOIDC). */
export function stsCredentialsOf(body: Record<string, unknown>, call: string): AliyunKeys {
  return temporaryKeysOf((body.Credentials ?? {}) as Record<string, unknown>, call, "Credentials.");
}

/**
 * Temporary keys of `role`, assumed with `base`'s keys and renewed before they expire. Base keys that are temporary
 * themselves (an ECS role, a profile's STS token, another role's session) and refused as expired are renewed once
 * and the call sent again (`aliyunRpc`).
 */
export function assumedRole(role: RoleToAssume, base: CredentialSource): CredentialSource {
  const call = `AssumeRole ${role.roleArn}`;
  return new RenewingKeys(
    () => `assumed role ${role.roleArn} via STS, with keys ${base.description}`,
    async (io) => {
      const keys = await base.get(io);
      // STS has its own budget per caller; a handful of calls per credential lifetime never comes near it.
      const scope = `aliyun-sts-${createHash("sha256").update(keys.accessKey).digest("hex").slice(0, 16)}`;
      const body = await aliyunRpc(
        {
          call,
          action: "AssumeRole",
          version: STS_VERSION,
          endpoint: role.endpoint ?? DEFAULT_STS_ENDPOINT,
          params: {
            RoleArn: role.roleArn,
            RoleSessionName: role.sessionName,
            DurationSeconds: role.durationSeconds,
            ...(role.externalId === undefined ? {} : { ExternalId: role.externalId }),
          },
          limiter: io.http.limiterFor(scope, 5, 2),
        },
        base,
        io,
      );
      return stsCredentialsOf(body, call);
    },
  );
}
