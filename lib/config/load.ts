import { readFile } from "node:fs/promises";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { z } from "zod";
import { type Config, configSchema } from "./schema.js";

/** A config that cannot be used. `problems` are `path: message` lines a person can act on. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid config\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Resolves `${ssm:/path}` to the parameter's value; its errors say what to do (see ssm.ts). */
export type ParameterResolver = (name: string) => Promise<string>;

const REFERENCE = /\$\{(env|ssm):([^}]+)\}/g;

type Path = (string | number)[];

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, part) => {
    if (typeof part === "number") return `${text}[${part}]`;
    return text ? `${text}.${String(part)}` : String(part);
  }, "");
}

/** What a `${kind:name}` reference at `path` becomes; undefined keeps it as written. */
type Substitute = (kind: "env" | "ssm", name: string, path: Path) => Promise<string | undefined>;

async function resolveString(text: string, path: Path, substitute: Substitute): Promise<string> {
  let result = "";
  let last = 0;
  for (const match of text.matchAll(REFERENCE)) {
    const [whole, kind, name] = match as unknown as [string, "env" | "ssm", string];
    result += text.slice(last, match.index);
    last = (match.index ?? 0) + whole.length;
    result += (await substitute(kind, name, path)) ?? whole;
  }
  return result + text.slice(last);
}

async function resolveReferences(value: unknown, path: Path, substitute: Substitute): Promise<unknown> {
  if (typeof value === "string") return resolveString(value, path, substitute);
  if (Array.isArray(value)) {
    return Promise.all(value.map((item, index) => resolveReferences(item, [...path, index], substitute)));
  }
  if (value && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(
        async ([key, item]) => [key, await resolveReferences(item, [...path, key], substitute)] as const,
      ),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

/**
 * Substitutes `${env:NAME}` from `env` and `${ssm:/path}` through `ssm`. A reference that cannot be resolved is
 * a problem named by its path, and is kept as written so that the schema does not report the same key again.
 */
function resolving(
  env: NodeJS.ProcessEnv,
  ssm: ParameterResolver | undefined,
  problems: string[],
): Substitute {
  return async (kind, name, path) => {
    if (kind === "env") {
      const value = env[name];
      if (value !== undefined && value !== "") return value;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return undefined;
    }
    if (!ssm) {
      problems.push(`${formatPath(path)}: \${ssm:${name}} cannot be resolved here (no SSM access)`);
      return undefined;
    }
    try {
      return await ssm(name);
    } catch (error) {
      problems.push(`${formatPath(path)}: ${(error as Error).message}`);
      return undefined;
    }
  };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path) || "(top level)";
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((key) => `${path === "(top level)" ? key : `${path}.${key}`}: unknown key`)
      .join("\n");
  }
  if (issue.code === "invalid_type" && issue.message.includes("received undefined"))
    return `${path}: required`;
  if (issue.code === "invalid_union" && "note" in issue && issue.note === "No matching discriminator") {
    return `${path}: unknown type (${issue.message})`;
  }
  return `${path}: ${issue.message}`;
}

function describeIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => describeIssue(issue).split("\n"));
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Resolves `${ssm:...}`: given the region the config's `store` names (undefined for its own default), since a
   * deployment keeps its parameters beside its table. Without it a reference is an error.
   */
  ssm?: (storeRegion: string | undefined) => ParameterResolver;
}

function parseMapping(text: string, file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : "";
    const problems = [`YAML syntax error${where}: ${(error as Error).message.split("\n")[0]}`];
    // `{ accessKey: ${env:AK} }` is the usual cause: braces inside a { } mapping end it early.
    if (text.includes("${")) problems.push('hint: inside { } mappings, quote references: "${env:NAME}"');
    throw new ConfigError(file, problems);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(file, ["the file must be a YAML mapping with at least `sources`"]);
  }
  return raw as Record<string, unknown>;
}

/** Parses and validates config text; every problem found is reported at once, each with its key path. */
export async function parseConfig(text: string, file: string, options: LoadOptions = {}): Promise<Config> {
  const raw = parseMapping(text, file);
  const problems: string[] = [];
  const env = options.env ?? process.env;
  // The store first: its region is where the rest's SSM parameters are read.
  const store = await resolveReferences(
    raw.store,
    ["store"],
    resolving(env, options.ssm?.(undefined), problems),
  );
  const region = (store as { region?: unknown } | undefined)?.region;
  const substitute = resolving(env, options.ssm?.(typeof region === "string" ? region : undefined), problems);
  const resolved = Object.fromEntries(
    await Promise.all(
      Object.entries(raw).map(
        async ([key, value]) =>
          [key, key === "store" ? store : await resolveReferences(value, [key], substitute)] as const,
      ),
    ),
  );
  const result = configSchema.safeParse(resolved);
  if (!result.success) problems.push(...describeIssues(result.error.issues));
  if (problems.length > 0 || !result.success) throw new ConfigError(file, [...new Set(problems)]);
  return result.data;
}

async function readConfig(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === "ENOENT" ? "no such file; pass --config FILE or set CERTWATCH_CONFIG" : code;
    throw new ConfigError(file, [`cannot read config: ${hint}`]);
  }
}

export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  return parseConfig(await readConfig(file), file, options);
}

/**
 * Checks a config file against the schema alone, offline: `${env:...}` and `${ssm:...}` references are left as
 * written and accepted wherever text is (a reference is text, so a key that wants a number still refuses one).
 * Throws the ConfigError that loading it would, minus what only the references' values could settle.
 */
export async function checkConfigFile(file: string): Promise<void> {
  const raw = parseMapping(await readConfig(file), file);
  const placeholders = new Set<string>();
  const kept = await resolveReferences(raw, [], async (_kind, _name, path) => {
    placeholders.add(formatPath(path));
    return undefined;
  });
  const result = configSchema.safeParse(kept);
  if (result.success) return;
  const settled = result.error.issues.filter(
    (issue) => issue.code === "invalid_type" || !placeholders.has(formatPath(issue.path)),
  );
  if (settled.length > 0) throw new ConfigError(file, [...new Set(describeIssues(settled))]);
}

export function configPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.CERTWATCH_CONFIG ?? "certwatch.yml";
}
