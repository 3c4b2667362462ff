import type { SSMClient } from "@aws-sdk/client-ssm";
import { loadConfig, parseConfig } from "./load.js";
import type { Config } from "./schema.js";
import { ssmResolver } from "./ssm.js";

export interface DeployedSettings {
  /** The bundled config file (CERTWATCH_CONFIG), used unless configParameter is set. */
  configFile: string;
  /** An SSM parameter holding the whole config (CERTWATCH_CONFIG_PARAMETER). */
  configParameter?: string;
  /** The deployment's table (CERTWATCH_TABLE): whatever the config's `store` says, Lambda uses it. */
  table?: string;
}

export function deployedSettings(env: NodeJS.ProcessEnv): DeployedSettings {
  return {
    configFile: env.CERTWATCH_CONFIG || "certwatch.yml",
    configParameter: env.CERTWATCH_CONFIG_PARAMETER || undefined,
    table: env.CERTWATCH_TABLE || undefined,
  };
}

/**
 * The config as a deployed function sees it: from the bundle or an SSM parameter, `${ssm:...}` resolved (and
 * cached per container), and the store pointed at the deployment's DynamoDB table.
 */
export async function loadDeployedConfig(
  settings: DeployedSettings,
  ssm: Pick<SSMClient, "send">,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Config> {
  const ssmValue = ssmResolver(ssm);
  const config = settings.configParameter
    ? await parseConfig(await ssmValue(settings.configParameter), `ssm:${settings.configParameter}`, {
        env,
        ssm: ssmValue,
      })
    : await loadConfig(settings.configFile, { env, ssm: ssmValue });
  return {
    ...config,
    store: { ...config.store, type: "dynamodb", table: settings.table ?? config.store.table },
  };
}
