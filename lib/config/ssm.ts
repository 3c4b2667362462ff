import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { ParameterResolver } from "./load.js";

/** What to do about a failed read, by the AWS error's name. */
function advice(error: Error, name: string, region: string | undefined): string | undefined {
  switch (error.name) {
    case "ParameterNotFound":
      return `it does not exist${region ? ` in ${region}` : ""}; create it with aws ssm put-parameter --name ${name}`;
    case "CredentialsProviderError":
      return (
        "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run " +
        "`aws sso login`; `certwatch validate --offline` checks the schema without them"
      );
    case "AccessDeniedException":
      return "access denied: the credentials need ssm:GetParameter on it (and kms:Decrypt on a customer managed key)";
    default:
      return undefined;
  }
}

/**
 * Resolves `${ssm:/path}` with GetParameter, SecureStrings decrypted. Values are cached for the life of the
 * container: a warm Lambda reads each parameter once, not on every invocation. A failure names the parameter
 * and says what to do.
 */
export function ssmResolver(client: Pick<SSMClient, "send">, region?: string): ParameterResolver {
  const cache = new Map<string, Promise<string>>();
  return (name) => {
    let value = cache.get(name);
    if (!value) {
      value = client.send(new GetParameterCommand({ Name: name, WithDecryption: true })).then(
        (answer) => {
          const text = answer.Parameter?.Value;
          if (text === undefined) throw new Error(`SSM parameter ${name} has no value`);
          return text;
        },
        (error: Error) => {
          const hint = advice(error, name, region);
          throw new Error(
            `SSM parameter ${name} could not be read (${error.name})${hint ? `: ${hint}` : ""}`,
            {
              cause: error,
            },
          );
        },
      );
      // A failed read is not cached: the next invocation tries again.
      value.catch(() => cache.delete(name));
      cache.set(name, value);
    }
    return value;
  };
}

/**
 * `${ssm:...}` outside Lambda: read with the user's own AWS credentials (the SDK's default chain: environment,
 * profile, SSO), in the store's region, else the SDK's own (AWS_REGION, the profile's). AWS_ENDPOINT_URL_SSM
 * points it at another endpoint. Nothing is contacted unless the config holds a reference.
 */
export function userParameterResolver(storeRegion: string | undefined): ParameterResolver {
  let ready: Promise<ParameterResolver | undefined> | undefined;
  return async (name) => {
    ready ??= (async () => {
      const client = new SSMClient({ region: storeRegion });
      const region = await client.config.region().catch(() => undefined);
      return region === undefined ? undefined : ssmResolver(client, region);
    })();
    const resolve = await ready;
    if (!resolve) {
      throw new Error(
        `SSM parameter ${name} could not be read: no AWS region; set store.region in the config, or AWS_REGION`,
      );
    }
    return resolve(name);
  };
}
