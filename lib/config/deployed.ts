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
  const ssmValue = ssmResolver(ssm, env.AWS_REGION);
  // The function's own region, whatever the store says: its role may read parameters there only.
  const options = { env, ssm: () => ssmValue };
  const config = settings.configParameter
    ? await parseConfig(await ssmValue(settings.configParameter), `ssm:${settings.configParameter}`, options)
    : await loadConfig(settings.configFile, options);
  return onDeployedTable(config, settings.table);
}

/** The config with its store on a deployment's DynamoDB table (`table`, else the config's own). */
export function onDeployedTable(config: Config, table: string | undefined): Config {
  return { ...config, store: { ...config.store, type: "dynamodb", table: table ?? config.store.table } };
}
