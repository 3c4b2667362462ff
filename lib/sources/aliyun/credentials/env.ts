import { registerRuntimeSecret } from "../../../config/secrets.js";
import { type CredentialSource, fixedKeys } from "./types.js";

/**
 * The vendor chain's first link: `ALIBABA_CLOUD_ACCESS_KEY_ID` and `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, with
 * `ALIBABA_CLOUD_SECURITY_TOKEN` for temporary keys. Undefined when the id is not set; an error when half a pair is.
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): CredentialSource | undefined {
  const accessKey = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  if (!accessKey) return undefined;
  const secretKey = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!secretKey)
    throw new Error("ALIBABA_CLOUD_ACCESS_KEY_ID is set without ALIBABA_CLOUD_ACCESS_KEY_SECRET");
  const securityToken = env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined;
  registerRuntimeSecret(secretKey, securityToken);
  return fixedKeys(
    { accessKey, secretKey, securityToken },
    `from the ALIBABA_CLOUD_ACCESS_KEY_* environment variables${securityToken ? " (with a security token)" : ""}`,
  );
}
