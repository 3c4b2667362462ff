import { deployedSettings, onDeployedTable } from "../config/deployed.js";
import { loadConfig } from "../config/load.js";
import type { Config, SourceConfig } from "../config/schema.js";
import { makeRedactor, secretValues } from "../config/secrets.js";
import { userParameterResolver } from "../config/ssm.js";
import { isNamed } from "../config/units.js";

/** Thrown for bad usage or bad config: exit status 2, nothing done. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface Loaded {
  config: Config;
  redact: (text: string) => string;
}

/**
 * The config as the CLI uses it: `${ssm:...}` read with the user's AWS credentials, and, when CERTWATCH_TABLE
 * names a deployment's table, the store on that table, as the deployed functions see it.
 */
export async function loadForCli(file: string): Promise<Loaded> {
  const config = await loadConfig(file, { ssm: userParameterResolver });
  const { table } = deployedSettings(process.env);
  return {
    config: table ? onDeployedTable(config, table) : config,
    redact: makeRedactor(secretValues(config)),
  };
}

/** An option's ISO 8601 time (`--now`, `--at`); the current time when absent. */
export function parseNow(text: string | undefined, option = "--now"): Date {
  if (text === undefined) return new Date();
  const parsed = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(parsed)) {
    throw new UsageError(
      `${option}: ${JSON.stringify(text)} is not an ISO 8601 time such as 2026-12-01T09:00:00Z`,
    );
  }
  return new Date(parsed);
}

/** The sources `--source NAME...` selects (all when none is given); an unknown name is bad usage. */
export function selectSources(
  config: Config,
  names: string[] | undefined,
  configFile: string,
): SourceConfig[] {
  const only = names ?? [];
  const unknown = only.filter((name) => !config.sources.some((source) => isNamed(source, [name])));
  if (unknown.length > 0)
    throw new UsageError(`--source: no source named ${unknown.join(", ")} in ${configFile}`);
  return config.sources.filter((source) => only.length === 0 || isNamed(source, only));
}
