import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Exchange } from "../../sim/server.js";

/** A request parameter of a call, as vendor-contracts.json describes it. */
export interface ParamSpec {
  type: string;
  required?: boolean;
  in?: string;
  enum?: unknown[];
  default?: unknown;
  notes?: string;
}

/** A response field of a call; `type` is `string`, `integer`, `long`, `boolean`, `object` or `array<...>`. */
export interface FieldSpec {
  type: string;
  enum?: unknown[];
  notes?: string;
  example?: string;
}

export interface Contract {
  version: string | null;
  method: string | null;
  path: string | null;
  style: "rpc" | "rest";
  auth_scope?: { scope?: string; credentials?: string };
  /** False for an anonymous call (no signature, no AccessKey): the common signing parameters are not expected. */
  signed?: boolean;
  request: Record<string, ParamSpec>;
  response: Record<string, FieldSpec>;
}

/** vendor-contracts.json: `aliyun.cas.ListClientCertificate`, `aliyun.cas.ListCert@2020-04-07`, `huawei.scm.ListCertificates`... */
export type Contracts = Readonly<Record<string, Contract>>;

export interface Verdict {
  /** The key of the entry the exchange was matched to. */
  contract?: string;
  violations: string[];
}

export const CONTRACTS_ENV = "CERTWATCH_VENDOR_CONTRACTS";

/** Where the shared reference sits beside the checkout: <repo>/../shared/reference/vendor-contracts.json. */
export const defaultContractsPath = fileURLToPath(
  new URL("../../../shared/reference/vendor-contracts.json", import.meta.url),
);

/**
 * Calls certwatch makes that the shared contract lacks, taken from the vendor's own packages; each entry's `source`
 * names the package, version and model it came from. The shared contract wins when it gains the same key.
 */
export const supplementPath = fileURLToPath(new URL("./supplement.json", import.meta.url));

export function loadContracts(path?: string): Contracts {
  const fromEnv = !path && !!process.env[CONTRACTS_ENV];
  const file = path ?? (process.env[CONTRACTS_ENV] || defaultContractsPath);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new Error(
      `The vendor contracts were looked for at ${file}${fromEnv ? ` (from ${CONTRACTS_ENV})` : ""} and are not there. ` +
        `Put the shared reference beside the checkout (../shared/reference/vendor-contracts.json) ` +
        `or set ${CONTRACTS_ENV} to the path of vendor-contracts.json.`,
      { cause: error },
    );
  }
  const contracts: unknown = JSON.parse(text);
  if (!isRecord(contracts)) throw new Error(`${file} is not a JSON object of contracts`);
  const supplement: unknown = JSON.parse(readFileSync(supplementPath, "utf8"));
  if (!isRecord(supplement)) throw new Error(`${supplementPath} is not a JSON object of contracts`);
  return { ...supplement, ...contracts } as unknown as Contracts;
}

/**
 * The keys an error body may hold: Alibaba's common error fields; Huawei's `huawei._common.rest.response`,
 * plus the code/message its SDK also reads.
 */
const ERROR_FIELDS = {
  aliyun: [
    "RequestId",
    "HostId",
    "Code",
    "Message",
    "Recommend",
    "AccessDeniedDetail",
    "Detail",
    "Description",
  ],
  huawei: [
    "error_code",
    "error_msg",
    "code",
    "message",
    "request_id",
    "encoded_authorization_message",
    "details",
  ],
};

export function checkExchange(contracts: Contracts, exchange: Exchange): Verdict {
  const { service } = exchange;
  const vendor = service.startsWith("aliyun.")
    ? "aliyun"
    : service.startsWith("huawei.")
      ? "huawei"
      : undefined;
  if (!vendor || !Object.keys(contracts).some((key) => key.startsWith(`${service}.`))) {
    return { violations: [] };
  }
  const found = new Set<string>();
  const match = vendor === "aliyun" ? matchAliyun(contracts, exchange) : matchHuawei(contracts, exchange);
  const say = (message: string) => found.add(`${service} ${match.call}: ${message}`);
  for (const problem of match.problems) say(problem);

  // A fault or scripted answer is what a test asked for; the request that met it is still certwatch's own.
  if (!exchange.deliberate) checkAnswer(contracts, vendor, exchange.answer, match.contract, say);
  return { ...(match.contract ? { contract: match.contract } : {}), violations: [...found] };
}

function checkAnswer(
  contracts: Contracts,
  vendor: "aliyun" | "huawei",
  { status, body }: Exchange["answer"],
  contract: string | undefined,
  say: (message: string) => void,
): void {
  if (status >= 400) {
    if (!isRecord(body)) say(`the error body is ${kindOf(body)}, not a JSON object`);
    else {
      for (const key of Object.keys(body)) {
        if (!ERROR_FIELDS[vendor].includes(key)) {
          say(`error body field ${key} is not one the vendor sends (${ERROR_FIELDS[vendor].join(", ")})`);
        }
      }
    }
  } else if (status >= 200 && status < 300 && contract) {
    const allowed = vendor === "aliyun" ? ["RequestId"] : [];
    checkFields(body, contracts[contract]?.response ?? {}, "response field", say, allowed);
  }
}

interface Match {
  /** How violations name the call: the action or operation, or the method and path when nothing matched. */
  call: string;
  contract?: string;
  problems: string[];
}

function header(exchange: Exchange, name: string): string | undefined {
  const value = exchange.request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function matchAliyun(contracts: Contracts, exchange: Exchange): Match {
  const { service, request } = exchange;
  const problems: string[] = [];
  const query = parseQuery(request.url.search, problems);
  const v3 = header(exchange, "x-acs-action") !== undefined;
  const action = header(exchange, "x-acs-action") ?? query.find((p) => p.name === "Action")?.value;
  const version = header(exchange, "x-acs-version") ?? query.find((p) => p.name === "Version")?.value;
  if (!action)
    return { call: "(no action)", problems: ["the request names no action (x-acs-action or Action)"] };

  const base = `${service}.${action}`;
  const keys = Object.keys(contracts).filter((key) => key === base || key.startsWith(`${base}@`));
  if (keys.length === 0) return { call: action, problems: [...problems, "no such action in the contract"] };
  const key = contracts[base]?.version === version ? base : keys.find((k) => k === `${base}@${version}`);
  if (!key) {
    const versions = keys.map((k) => contracts[k]?.version).join(" or ");
    problems.push(`sent under version ${version ?? "(none)"}; the contract says ${versions}`);
    return { call: action, problems };
  }
  const contract = contracts[key] as Contract;
  if (contract.method && request.method !== contract.method) {
    problems.push(`sent as ${request.method}; the contract says ${contract.method}`);
  }
  // Alibaba canonicalizes a space as %20 and signs that; a raw '+' means the query was form-encoded.
  if (request.url.search.includes("+")) problems.push("the query sends a space as '+'; the vendor signs %20");
  // RPC parameters travel in the query (`in: query` throughout the shared contract); a body would carry unchecked
  // ones, unless the call takes a form body (`in: formData`, as AssumeRoleWithOIDC in the supplement).
  const takesForm = Object.values(contract.request).some((spec) => spec.in === "formData");
  if (takesForm) {
    const form = parseQuery(request.body, problems);
    checkQuery(form, contract.request, problems, "formData", "form field");
  } else if (request.body !== "") {
    problems.push("the request has a body; the contract's parameters all travel in the query");
  }
  // The legacy V1 signature travels as common query parameters; V3 moves it into x-acs-* headers; an anonymous
  // call has none.
  const common =
    v3 || contract.signed === false ? {} : plainParams(contracts["aliyun._common.rpc"]?.request ?? {});
  checkQuery(query, { ...common, ...contract.request }, problems);
  return { call: action, contract: key, problems };
}

function matchHuawei(contracts: Contracts, exchange: Exchange): Match {
  const { service, request } = exchange;
  const { pathname } = request.url;
  const candidates = Object.keys(contracts).flatMap((key) => {
    const contract = contracts[key] as Contract;
    if (!key.startsWith(`${service}.`) || contract.method !== request.method || !contract.path) return [];
    const names = [...contract.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
    const pattern = contract.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "([^/]+)");
    const found = new RegExp(`^${pattern}$`).exec(pathname);
    return found ? [{ key, contract, names, values: found.slice(1) }] : [];
  });
  if (candidates.length === 0) {
    return {
      call: `${request.method} ${pathname}`,
      problems: ["no call in the contract has this method and path"],
    };
  }
  const body = parseBody(request.body);
  // Calls that share a method and path (IAM's securitytokens) differ in their body: take the one it fits best.
  const scored = candidates.map((candidate) => {
    const problems: string[] = [];
    const bodySpecs = Object.fromEntries(
      Object.entries(candidate.contract.request).filter(([, spec]) => spec.in === "body"),
    );
    if (Object.keys(bodySpecs).length > 0) {
      checkFields(body, bodySpecs, "request body field", (m) => problems.push(m));
      checkRequiredBody(body, bodySpecs, problems);
    }
    return { ...candidate, problems };
  });
  const best = scored.reduce((a, b) => (b.problems.length < a.problems.length ? b : a));
  const { key, contract, names, values } = best;
  const problems = [...best.problems];
  names.forEach((name, i) => {
    const value = decode(values[i] ?? "");
    const spec = contract.request[name];
    if (!spec || spec.in !== "path") problems.push(`path parameter ${name} is not in the contract`);
    else if (value === undefined) problems.push(`path parameter ${name} is not valid percent-encoding`);
    else checkValue(`path parameter ${name}`, spec, value, problems);
  });
  checkQuery(parseQuery(request.url.search, problems), contract.request, problems);
  if (
    /GlobalCredentials only/.test(contract.auth_scope?.credentials ?? "") &&
    header(exchange, "x-project-id")
  ) {
    problems.push(`sent header X-Project-Id; the contract takes ${contract.auth_scope?.credentials}`);
  }
  return { call: key.slice(service.length + 1), contract: key, problems };
}

interface QueryParam {
  name: string;
  value: string;
}

/** Decodes the raw query with decodeURIComponent alone: '+' stays a plus, as the vendors read it. */
function parseQuery(search: string, problems: string[]): QueryParam[] {
  const params: QueryParam[] = [];
  for (const pair of search.replace(/^\?/, "").split("&")) {
    if (!pair) continue;
    const at = pair.indexOf("=");
    const rawName = at < 0 ? pair : pair.slice(0, at);
    const name = decode(rawName);
    const value = decode(at < 0 ? "" : pair.slice(at + 1));
    if (name === undefined || value === undefined) {
      problems.push(`query parameter ${rawName} is not valid percent-encoding`);
    } else params.push({ name, value });
  }
  return params;
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The contract's name of a query parameter: RPC sends lists as Name.1, Name.1.Key (the contract's Tag[].Key). */
function paramPath(name: string): { path: string; element: boolean } {
  const path = name.replace(/\.\d+(?=\.|$)/g, "[]");
  return path.endsWith("[]") ? { path: path.slice(0, -2), element: true } : { path, element: false };
}

/** The named parameters of `aliyun._common.rpc` (its other keys, such as "array/object params", are notes). */
function plainParams(specs: Record<string, ParamSpec>): Record<string, ParamSpec> {
  return Object.fromEntries(Object.entries(specs).filter(([name]) => /^\w+$/.test(name)));
}

/** Holds parameters to their specs at one place: the query, or a form body (`formData`). */
function checkQuery(
  params: QueryParam[],
  specs: Record<string, ParamSpec>,
  problems: string[],
  where = "query",
  what = "query parameter",
): void {
  const sent = new Set<string>();
  const names = new Set<string>();
  for (const { name, value } of params) {
    if (names.has(name)) problems.push(`${what} ${name} is sent more than once`);
    names.add(name);
    const { path, element } = paramPath(name);
    sent.add(path);
    const spec = specs[path];
    if (!spec || spec.in !== where) {
      problems.push(`${what} ${name} is not in the contract`);
      continue;
    }
    const elementType = /^array<(.+)>$/.exec(spec.type)?.[1];
    // A whole list sent as one value (CAS CertIds as a JSON array string) is not checked item by item.
    if (elementType && !element) continue;
    checkValue(`${what} ${name}`, elementType ? { ...spec, type: elementType } : spec, value, problems);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.in === where && spec.required && !sent.has(name)) {
      problems.push(`required ${what} ${name} is missing`);
    }
  }
}

function checkValue(what: string, spec: ParamSpec, value: string, problems: string[]): void {
  const shown = show(value);
  if ((spec.type === "integer" || spec.type === "long") && !/^-?\d+$/.test(value)) {
    problems.push(`${what} is ${shown}; the contract says ${spec.type}`);
  } else if (spec.type === "boolean" && value !== "true" && value !== "false") {
    problems.push(`${what} is ${shown}; the contract says boolean (true or false)`);
  } else if (spec.enum && !spec.enum.map(String).includes(value)) {
    problems.push(`${what} is ${shown}; the contract allows ${spec.enum.map(String).join(", ")}`);
  }
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Required body fields whose parent object was sent (fields inside list items are not checked). */
function checkRequiredBody(body: unknown, specs: Record<string, ParamSpec>, problems: string[]): void {
  for (const [path, spec] of Object.entries(specs)) {
    if (!spec.required || path.includes("[]")) continue;
    const parts = path.split(".");
    const last = parts.pop() as string;
    let parent: unknown = body;
    for (const part of parts) parent = isRecord(parent) ? parent[part] : undefined;
    const missing = isRecord(parent) ? !(last in parent) : parts.length === 0;
    if (missing) problems.push(`required request body field ${path} is missing`);
  }
}

/**
 * Holds a JSON body to the contract's field paths (`a.b`, `a[].b`): every field must be declared and of its type.
 * Lists of scalars are checked item by item but have no paths below them; an `object` with no declared fields
 * below it (a map such as response_config.properties) is not descended.
 */
function checkFields(
  body: unknown,
  specs: Record<string, FieldSpec>,
  what: string,
  say: (message: string) => void,
  alwaysAllowed: string[] = [],
): void {
  if (!isRecord(body)) {
    say(`the ${what.split(" ")[0]} body is ${kindOf(body)}, not a JSON object`);
    return;
  }
  const hasChildren = (path: string) =>
    Object.keys(specs).some((key) => key.startsWith(`${path}.`) || key.startsWith(`${path}[].`));

  const walkObject = (object: Record<string, unknown>, prefix: string) => {
    for (const [name, value] of Object.entries(object)) {
      const path = prefix ? `${prefix}.${name}` : name;
      const spec = specs[path];
      if (spec) walkValue(value, path, spec);
      else if (!alwaysAllowed.includes(path)) say(`${what} ${path} is not in the contract`);
    }
  };

  const walkValue = (value: unknown, path: string, spec: FieldSpec) => {
    if (value === null) return;
    if (!fitsType(spec, value)) {
      say(`${what} ${path} is ${kindOf(value)}; the contract says ${spec.type}`);
      return;
    }
    if (Array.isArray(value)) {
      const element = /^array<(.+)>$/.exec(spec.type)?.[1];
      for (const item of value) {
        if (item === null) continue;
        if (element && !fitsType({ type: element }, item))
          say(`${what} ${path} holds ${kindOf(item)}; the contract says ${spec.type}`);
        else if (isRecord(item)) {
          if (hasChildren(`${path}[]`)) walkObject(item, `${path}[]`);
        } else checkEnum(item, path, spec);
      }
    } else if (isRecord(value)) {
      if (hasChildren(path)) walkObject(value, path);
    } else checkEnum(value, path, spec);
  };

  const checkEnum = (value: unknown, path: string, spec: FieldSpec) => {
    if (spec.enum && !spec.enum.map(String).includes(String(value))) {
      say(`${what} ${path} is ${show(value)}; the contract allows ${spec.enum.map(String).join(", ")}`);
    }
  };

  walkObject(body, "");
}

function fitsType(spec: FieldSpec, value: unknown): boolean {
  if (spec.type.startsWith("array")) return Array.isArray(value);
  switch (spec.type) {
    case "object":
      return isRecord(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "integer":
    case "long":
      // A number, or its digits as a string; other text only where the contract itself shows it (RevokeTime's
      // example is "2021-01-01T00:00Z").
      return (
        typeof value === "number" ||
        (typeof value === "string" && (/^-?\d+$/.test(value) || !/^-?\d+$/.test(spec.example ?? "0")))
      );
    default:
      return true;
  }
}

function kindOf(value: unknown): string {
  if (value === undefined) return "empty";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value} (${show(value)})`;
}

/** A value as violations quote it: strings in single quotes (the report prints double quotes escaped), cut short. */
function show(value: unknown): string {
  const text = typeof value === "string" ? `'${value}'` : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
