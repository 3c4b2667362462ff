import { deployedSettings, onDeployedTable } from "../config/deployed.js";
import { loadConfig } from "../config/load.js";
import type { Config, SourceConfig } from "../config/schema.js";
import { makeRedactor, secretValues } from "../config/secrets.js";
import { userParameterResolver } from "../config/ssm.js";
import { configuredUnitOf, isNamed } from "../config/units.js";
import { knownUnits } from "../organizations.js";
import type { Store } from "../store/store.js";

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

/**
 * The configured units `--source NAME...` selects (all when none is given): by a unit's name, its source's name, or
 * an organization member's unit name (`<name>.<accountId>`), which selects its organization. An unknown name is bad
 * usage.
 */
export function selectSources(
  config: Config,
  names: string[] | undefined,
  configFile: string,
): SourceConfig[] {
  const only = names ?? [];
  const unknown = only.filter(
    (name) =>
      !config.sources.some((source) => isNamed(source, [name])) && !configuredUnitOf(config.sources, name),
  );
  if (unknown.length > 0)
    throw new UsageError(`--source: no source named ${unknown.join(", ")} in ${configFile}`);
  return config.sources.filter(
    (source) =>
      only.length === 0 ||
      isNamed(source, only) ||
      only.some((name) => configuredUnitOf(config.sources, name) === source),
  );
}

/**
 * The units `--source` selects as the store knows them, for commands that read: an organization stands for its
 * discovery unit and each member its last discovery recorded.
 */
export async function selectKnownUnits(
  config: Config,
  names: string[] | undefined,
  configFile: string,
  store: Store,
): Promise<SourceConfig[]> {
  const selected = selectSources(config, names, configFile);
  if (!(await store.tableExists())) return selected;
  const only = names ?? [];
  return (await knownUnits(selected, store)).filter((unit) => only.length === 0 || isNamed(unit, only));
}
