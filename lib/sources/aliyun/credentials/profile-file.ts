import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { registerRuntimeSecret } from "../../../config/secrets.js";
import { fromEcsMetadata } from "./ecs-metadata.js";
import { parseIni } from "./ini.js";
import { assumedRole } from "./sts.js";
import { type CredentialSource, fixedKeys } from "./types.js";

/** Reads a file the chain looks at; undefined when it is not there, which moves the chain on. */
export function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * The SDK's credentials file, `~/.alibabacloud/credentials` (or `ALIBABA_CLOUD_CREDENTIALS_FILE`): INI profiles,
 * the one named by `ALIBABA_CLOUD_PROFILE` or `default`, of type access_key, sts, ram_role_arn or ecs_ram_role.
 * Undefined when there is no file; an error naming the profile when it is missing or incomplete.
 */
export function fromCredentialsFile(
  env: NodeJS.ProcessEnv = process.env,
  home = homedir(),
): CredentialSource | undefined {
  const path = env.ALIBABA_CLOUD_CREDENTIALS_FILE || join(home, ".alibabacloud", "credentials");
  const shown = env.ALIBABA_CLOUD_CREDENTIALS_FILE ? path : "~/.alibabacloud/credentials";
  const text = readIfThere(path);
  if (text === undefined) return undefined;
  const name = env.ALIBABA_CLOUD_PROFILE || "default";
  const where = `${shown} profile ${name}`;
  const profile = parseIni(text).get(name);
  if (!profile) throw new Error(`${shown} has no profile ${name}`);
  const value = (key: string): string => {
    const found = profile.get(key);
    if (!found) throw new Error(`${where}: ${key} is missing`);
    return found;
  };
  const type = profile.get("type");
  if (type === "ecs_ram_role") return fromEcsMetadata(env, profile.get("role_name"));
  if (type !== "access_key" && type !== "sts" && type !== "ram_role_arn") {
    throw new Error(
      `${where}: type ${JSON.stringify(type ?? "")} is not access_key, sts, ram_role_arn or ecs_ram_role`,
    );
  }
  const keys = {
    accessKey: value("access_key_id"),
    secretKey: value("access_key_secret"),
    securityToken: type === "sts" ? value("security_token") : undefined,
  };
  registerRuntimeSecret(keys.secretKey, keys.securityToken);
  const base = fixedKeys(keys, `from ${where}`);
  if (type !== "ram_role_arn") return base;
  return assumedRole(
    {
      roleArn: value("role_arn"),
      sessionName: profile.get("role_session_name") || "certwatch",
      durationSeconds: 3600,
      externalId: profile.get("external_id") || undefined,
    },
    base,
  );
}
