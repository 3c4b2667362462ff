import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { ParameterResolver } from "./load.js";

/**
 * Resolves `${ssm:/path}` with GetParameter, SecureStrings decrypted. Values are cached for the life of the
 * container: a warm Lambda reads each parameter once, not on every invocation.
 */
export function ssmResolver(client: Pick<SSMClient, "send">): ParameterResolver {
  const cache = new Map<string, Promise<string>>();
  return (name) => {
    let value = cache.get(name);
    if (!value) {
      value = client.send(new GetParameterCommand({ Name: name, WithDecryption: true })).then((answer) => {
        const text = answer.Parameter?.Value;
        if (text === undefined) throw new Error(`SSM parameter ${name} has no value`);
        return text;
      });
      // A failed read is not cached: the next invocation tries again.
      value.catch(() => cache.delete(name));
      cache.set(name, value);
    }
    return value;
  };
}
