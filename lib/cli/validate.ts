import { checkConfigFile } from "../config/load.js";
import type { SourceConfig } from "../config/schema.js";
import { oneLine } from "../model/text.js";
import { expandAccounts } from "../organizations.js";
import { ApiError, HttpClient, newCallStats } from "../sources/http.js";
import { driverFor } from "../sources/index.js";
import { loadForCli } from "./context.js";
import type { Output } from "./output.js";

/** Why a host could not be reached, and what to look at, by the network error's code. */
function unreachableAdvice(code: string): { why: string; check: string } {
  const path = "the network, proxy and firewall between this machine and it";
  switch (code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return { why: "its name does not resolve", check: "the endpoint's host name and this machine's DNS" };
    case "ECONNREFUSED":
      return { why: "the connection was refused", check: "the endpoint's host and port" };
    case "timeout":
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return { why: "no answer in time", check: path };
    default:
      return { why: code, check: `the endpoint, and ${path}` };
  }
}

/** Vendor answers that refuse the credentials or their permissions (Huawei's 401/403, Alibaba's codes). */
const CREDENTIAL_CODES =
  /^(InvalidAccessKeyId|SignatureDoesNotMatch|IncompleteSignature|InvalidSecurityToken|MissingSecurityToken|Forbidden|NoPermission)/;

/** What a failed check means: the host for a network failure, the credentials only when the vendor refused them. */
function describeFailure(error: unknown): string {
  if (!(error instanceof ApiError)) return (error as Error).message;
  const { unreachable, status, code = "" } = error.detail;
  if (unreachable) {
    const { why, check } = unreachableAdvice(unreachable.code);
    return `${error.call}: could not reach ${unreachable.host} (${why}); check ${check}. The credentials were not tried`;
  }
  if (error.call.startsWith("AssumeRole ") && code === "EntityNotExist.Role") {
    return `${error.message}: no such role in that account; create it there (members the directory invited have no ResourceDirectoryAccountAccessRole until someone creates it), or name the role the members have in accounts.role`;
  }
  if (error.call.startsWith("AssumeRole ") && (status === 403 || CREDENTIAL_CODES.test(code))) {
    return `${error.message}: the role was not assumed; check that its trust policy names these keys' account or RAM user, that the ExternalId matches its sts:ExternalId condition, and that the keys may call sts:AssumeRole`;
  }
  if (status === 401 || status === 403 || CREDENTIAL_CODES.test(code)) {
    return `${error.message}: the credentials were refused; check this source's keys and their permissions`;
  }
  return error.message;
}

/** How many members of each organization `validate` assumes a role in: enough to prove the role, not a thousand. */
const MEMBERS_CHECKED = 3;

/**
 * The units validate checks: every configured unit, and for an organization its discovery and its first members
 * (the discovery unit says how many more were not checked).
 */
async function unitsToCheck(units: SourceConfig[]): Promise<{ source: SourceConfig; skipped: number }[]> {
  const checked = units
    .filter((unit) => unit.account === undefined)
    .map((source) => ({ source, skipped: 0 }));
  const members = new Map<string, number>();
  for (const unit of units) {
    if (unit.account === undefined) continue;
    const count = members.get(unit.configuredName) ?? 0;
    members.set(unit.configuredName, count + 1);
    const organization = checked.find(
      (entry) => entry.source.discovery && entry.source.name === unit.configuredName,
    );
    if (organization && count >= MEMBERS_CHECKED) organization.skipped++;
    else checked.push({ source: unit, skipped: 0 });
  }
  return checked;
}

/**
 * Checks the config, then proves each source's endpoint and credentials with one cheap signed call; an organization
 * is listed, and a role assumed in its first members. Offline, it
 * checks the schema alone, as `serverless package` does.
 */
export async function validateCommand(
  options: { config: string; offline?: boolean },
  output: Output,
): Promise<number> {
  if (options.offline) {
    await checkConfigFile(options.config);
    output.out(
      `${options.config}: config is valid (schema only: references not resolved, nothing contacted)`,
    );
    return 0;
  }
  const { config, redact } = await loadForCli(options.config);
  output.out(
    `${options.config}: config is valid (${config.sources.length} sources, ${config.receivers.length} receivers)`,
  );
  const http = new HttpClient();
  let failures = 0;
  try {
    const units = await unitsToCheck(await expandAccounts(config.sources, { http, redact }));
    const results = await Promise.all(
      units.map(async ({ source, skipped }) => {
        if (source.unitError !== undefined) return { source, ok: false, text: source.unitError };
        if (source.discovery) {
          const more = skipped > 0 ? `; ${skipped} more not checked here (a dry run sweeps every one)` : "";
          return { source, ok: true, text: `lists ${source.discovery.members} selected members${more}` };
        }
        const driver = driverFor(source.type);
        const context = { http, stats: newCallStats(), previous: new Map(), warn: () => undefined, redact };
        try {
          return { source, ok: true, text: await driver.verify(source, context) };
        } catch (error) {
          return { source, ok: false, text: describeFailure(error) };
        }
      }),
    );
    for (const result of results) {
      if (!result.ok) failures++;
      const status = result.ok ? "ok    " : "FAILED";
      output.out(redact(`  ${result.source.name.padEnd(16)} ${status} ${oneLine(result.text)}`));
    }
  } finally {
    await http.close();
  }
  for (const receiver of config.receivers) {
    output.out(`  ${receiver.name.padEnd(16)} config ok (${receiver.type}; not contacted)`);
  }
  if (failures > 0) output.err(`${failures} source(s) failed the check; see above for what to look at`);
  return failures > 0 ? 1 : 0;
}
