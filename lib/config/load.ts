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

/** Resolves `${ssm:/path}`; only the Lambda runtime provides one. */
export type ParameterResolver = (name: string) => Promise<string>;

const REFERENCE = /\$\{(env|ssm):([^}]+)\}/g;

type Path = (string | number)[];

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, part) => {
    if (typeof part === "number") return `${text}[${part}]`;
    return text ? `${text}.${String(part)}` : String(part);
  }, "");
}

async function resolveString(
  text: string,
  path: Path,
  env: NodeJS.ProcessEnv,
  ssm: ParameterResolver | undefined,
  problems: string[],
): Promise<string> {
  let result = "";
  let last = 0;
  for (const match of text.matchAll(REFERENCE)) {
    const [whole, kind, name] = match as unknown as [string, "env" | "ssm", string];
    result += text.slice(last, match.index);
    last = (match.index ?? 0) + whole.length;
    if (kind === "env") {
      const value = env[name];
      if (value === undefined || value === "") {
        problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
        // Keep the reference text so the schema does not report the same key a second time.
        result += whole;
      } else {
        result += value;
      }
    } else if (!ssm) {
      problems.push(`${formatPath(path)}: \${ssm:${name}} is resolved only when running in AWS Lambda`);
      result += whole;
    } else {
      try {
        result += await ssm(name);
      } catch (error) {
        problems.push(
          `${formatPath(path)}: SSM parameter ${name} could not be read (${(error as Error).name})`,
        );
        result += whole;
      }
    }
  }
  return result + text.slice(last);
}

async function resolveReferences(
  value: unknown,
  path: Path,
  env: NodeJS.ProcessEnv,
  ssm: ParameterResolver | undefined,
  problems: string[],
): Promise<unknown> {
  if (typeof value === "string") return resolveString(value, path, env, ssm, problems);
  if (Array.isArray(value)) {
    return Promise.all(
      value.map((item, index) => resolveReferences(item, [...path, index], env, ssm, problems)),
    );
  }
  if (value && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(
        async ([key, item]) =>
          [key, await resolveReferences(item, [...path, key], env, ssm, problems)] as const,
      ),
    );
    return Object.fromEntries(entries);
  }
  return value;
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

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  ssm?: ParameterResolver;
}

/** Parses and validates config text; every problem found is reported at once, each with its key path. */
export async function parseConfig(text: string, file: string, options: LoadOptions = {}): Promise<Config> {
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
  const problems: string[] = [];
  const resolved = await resolveReferences(raw, [], options.env ?? process.env, options.ssm, problems);
  const result = configSchema.safeParse(resolved);
  if (!result.success)
    problems.push(...result.error.issues.flatMap((issue) => describeIssue(issue).split("\n")));
  if (problems.length > 0 || !result.success) throw new ConfigError(file, [...new Set(problems)]);
  return result.data;
}

export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === "ENOENT" ? "no such file; pass --config FILE or set CERTWATCH_CONFIG" : code;
    throw new ConfigError(file, [`cannot read config: ${hint}`]);
  }
  return parseConfig(text, file, options);
}

export function configPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.CERTWATCH_CONFIG ?? "certwatch.yml";
}
