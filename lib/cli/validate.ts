import { checkConfigFile } from "../config/load.js";
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
  if (error.call.startsWith("AssumeRole ") && (status === 403 || CREDENTIAL_CODES.test(code))) {
    return `${error.message}: the role was not assumed; check that its trust policy names these keys' account or RAM user, that the ExternalId matches its sts:ExternalId condition, and that the keys may call sts:AssumeRole`;
  }
  if (status === 401 || status === 403 || CREDENTIAL_CODES.test(code)) {
    return `${error.message}: the credentials were refused; check this source's keys and their permissions`;
  }
  return error.message;
}

/**
 * Checks the config, then proves each source's endpoint and credentials with one cheap signed call. Offline, it
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
    const results = await Promise.all(
      config.sources.map(async (source) => {
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
      output.out(redact(`  ${result.source.name.padEnd(16)} ${status} ${result.text}`));
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
