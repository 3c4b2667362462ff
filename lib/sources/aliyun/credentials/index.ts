import { createHash } from "node:crypto";
import { homedir } from "node:os";
import type { SourceConfig } from "../../../config/schema.js";
import { DefaultChain } from "./chain.js";
import { assumedRole } from "./sts.js";
import { type CredentialSource, fixedKeys } from "./types.js";

// The credential types, for the Alibaba client (aliyun/client.ts) and the other callers of this module.
export type { AliyunKeys, CredentialIo, CredentialSource } from "./types.js";

type AliyunSource = Extract<SourceConfig, { type: `aliyun-${string}` }>;

/**
 * Credential sources by what they stand for (base keys, role, ExternalId, ...), shared by every source and every
 * run in this process: temporary keys are obtained once per lifetime, not once per source or sweep.
 */
const cache = new Map<string, CredentialSource>();

function keyOf(parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

/** certwatch's own settings the chain reads, which point its vendor calls elsewhere (tests, a proxy). */
const CERTWATCH_CHAIN_SETTINGS = ["CERTWATCH_ECS_METADATA_URL", "CERTWATCH_STS_ENDPOINT"];

/** What the chain reads, so that a changed environment or home is a different chain. */
function chainFingerprint(env: NodeJS.ProcessEnv, home: string): unknown[] {
  const names = Object.keys(env)
    .filter((name) => name.startsWith("ALIBABA_CLOUD_") || CERTWATCH_CHAIN_SETTINGS.includes(name))
    .sort();
  return [home, ...names.map((name) => [name, env[name]])];
}

function cached(key: string, make: () => CredentialSource): CredentialSource {
  let found = cache.get(key);
  if (!found) {
    found = make();
    cache.set(key, found);
  }
  return found;
}

/**
 * Where an Alibaba source's keys come from: the config's keys, or the vendor's chain when it names none; then, with
 * `assumeRole`, that role's temporary keys from STS.
 */
export function credentialsFor(source: AliyunSource, env: NodeJS.ProcessEnv = process.env): CredentialSource {
  const { accessKey, secretKey, securityToken, assumeRole } = source.credentials;
  const home = homedir();
  const baseKey =
    accessKey && secretKey
      ? keyOf(["keys", accessKey, secretKey, securityToken])
      : keyOf(["chain", ...chainFingerprint(env, home)]);
  const base = cached(baseKey, () =>
    accessKey && secretKey
      ? fixedKeys({ accessKey, secretKey, securityToken }, "from the config")
      : new DefaultChain(env, home),
  );
  let keys = base;
  let key = baseKey;
  if (assumeRole) {
    const role = { ...assumeRole, endpoint: assumeRole.endpoint };
    key = keyOf(["role", baseKey, role]);
    keys = cached(key, () => assumedRole(role, base));
  }
  const { account, accounts } = source;
  if (!account || !accounts) return keys;
  // A member of a Resource Directory: its role, assumed with the source's own keys (or its role's), once per
  // lifetime however many of the member's units (endpoints) and runs use it.
  const member = {
    roleArn: `acs:ram::${account.id}:role/${accounts.role}`,
    sessionName: assumeRole?.sessionName ?? "certwatch",
    durationSeconds: accounts.durationSeconds,
    endpoint: accounts.stsEndpoint ?? assumeRole?.endpoint,
  };
  return cached(keyOf(["member", key, member]), () => assumedRole(member, keys));
}

/** The keys an organization is listed with: the source's own (or its role's), never a member's. */
export function organizationCredentialsFor(
  source: AliyunSource,
  env: NodeJS.ProcessEnv = process.env,
): CredentialSource {
  const { account: _account, ...organization } = source;
  return credentialsFor({ ...organization, accounts: undefined } as AliyunSource, env);
}

/** Forgets every credential obtained (tests; a process whose environment changed). */
export function forgetAliyunCredentials(): void {
  cache.clear();
}
