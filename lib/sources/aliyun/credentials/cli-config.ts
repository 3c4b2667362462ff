import { homedir } from "node:os";
import { join } from "node:path";
import { registerRuntimeSecret } from "../../../config/secrets.js";
import { fromEcsMetadata } from "./ecs-metadata.js";
import { readIfThere } from "./profile-file.js";
import { assumedRole } from "./sts.js";
import { type CredentialSource, fixedKeys } from "./types.js";

interface CliProfile {
  name?: string;
  mode?: string;
  access_key_id?: string;
  access_key_secret?: string;
  sts_token?: string;
  ram_role_arn?: string;
  ram_session_name?: string;
  expired_seconds?: number;
  sts_endpoint?: string;
  ram_role_name?: string;
}

/**
 * The Alibaba Cloud CLI's `~/.aliyun/config.json`: its current profile (or `ALIBABA_CLOUD_PROFILE`), in mode AK,
 * StsToken, RamRoleArn or EcsRamRole. Undefined when there is no file or `ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true`.
 */
export function fromCliConfig(
  env: NodeJS.ProcessEnv = process.env,
  home = homedir(),
): CredentialSource | undefined {
  if (env.ALIBABA_CLOUD_CLI_PROFILE_DISABLED?.toLowerCase() === "true") return undefined;
  const text = readIfThere(join(home, ".aliyun", "config.json"));
  if (text === undefined) return undefined;
  let config: { current?: string; profiles?: CliProfile[] };
  try {
    config = JSON.parse(text) as typeof config;
  } catch {
    throw new Error("~/.aliyun/config.json is not JSON");
  }
  const name = env.ALIBABA_CLOUD_PROFILE || config.current || "default";
  const where = `~/.aliyun/config.json profile ${name}`;
  const profile = config.profiles?.find((p) => p.name === name);
  if (!profile) throw new Error(`~/.aliyun/config.json has no profile ${name}`);
  const value = (key: keyof CliProfile): string => {
    const found = profile[key];
    if (typeof found !== "string" || found === "") throw new Error(`${where}: ${key} is missing`);
    return found;
  };
  if (profile.mode === "EcsRamRole") return fromEcsMetadata(env, profile.ram_role_name);
  if (profile.mode !== "AK" && profile.mode !== "StsToken" && profile.mode !== "RamRoleArn") {
    throw new Error(
      `${where}: mode ${JSON.stringify(profile.mode ?? "")} is not AK, StsToken, RamRoleArn or EcsRamRole`,
    );
  }
  const keys = {
    accessKey: value("access_key_id"),
    secretKey: value("access_key_secret"),
    securityToken: profile.mode === "StsToken" ? value("sts_token") : undefined,
  };
  registerRuntimeSecret(keys.secretKey, keys.securityToken);
  const base = fixedKeys(keys, `from ${where} (${profile.mode})`);
  if (profile.mode !== "RamRoleArn") return base;
  const seconds = Number(profile.expired_seconds);
  return assumedRole(
    {
      roleArn: value("ram_role_arn"),
      sessionName: profile.ram_session_name || "certwatch",
      durationSeconds: Number.isInteger(seconds) && seconds >= 900 ? seconds : 3600,
      endpoint: profile.sts_endpoint
        ? `https://${profile.sts_endpoint.replace(/^https?:\/\//, "")}`
        : undefined,
    },
    base,
  );
}
