import { fromCliConfig } from "./cli-config.js";
import { fromEcsMetadata } from "./ecs-metadata.js";
import { fromEnvironment } from "./env.js";
import { fromOidcRole } from "./oidc.js";
import { fromCredentialsFile } from "./profile-file.js";
import type { AliyunKeys, CredentialIo, CredentialSource } from "./types.js";
import { fromCredentialsUri } from "./uri.js";

/** A link of the chain: its name for errors, and its keys' source when it has one. */
interface Link {
  name: string;
  open: () => CredentialSource | undefined;
}

/**
 * The order of the vendor's default chain (@alicloud/credentials 2.4.7, `providers/default.js`): the environment,
 * the OIDC role, the CLI's config.json, the credentials file, the ECS instance's RAM role, the credentials URI.
 */
function links(env: NodeJS.ProcessEnv, home: string | undefined): Link[] {
  return [
    { name: "environment", open: () => fromEnvironment(env) },
    { name: "OIDC role", open: () => fromOidcRole(env) },
    { name: "~/.aliyun/config.json", open: () => fromCliConfig(env, home) },
    { name: "~/.alibabacloud/credentials", open: () => fromCredentialsFile(env, home) },
    { name: "ECS instance metadata", open: () => fromEcsMetadata(env) },
    { name: "ALIBABA_CLOUD_CREDENTIALS_URI", open: () => fromCredentialsUri(env) },
  ];
}

/**
 * The vendor's credential chain for a source that names no keys: the first link that gives keys is used from then
 * on, as the vendor's SDK does. When none does, the error says what each link lacked.
 */
export class DefaultChain implements CredentialSource {
  private chosen: CredentialSource | undefined;
  private pending: Promise<CredentialSource> | undefined;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly home?: string,
  ) {}

  get description(): string {
    return this.chosen?.description ?? "from the vendor's credential chain";
  }

  async get(io: CredentialIo): Promise<AliyunKeys> {
    const chosen = this.chosen ?? (await (this.pending ??= this.choose(io)));
    return chosen.get(io);
  }

  async renew(io: CredentialIo, stale: AliyunKeys): Promise<AliyunKeys> {
    const chosen = this.chosen ?? (await (this.pending ??= this.choose(io)));
    if (!chosen.renew) throw new Error(`the keys ${chosen.description} expired and cannot be renewed`);
    return chosen.renew(io, stale);
  }

  private async choose(io: CredentialIo): Promise<CredentialSource> {
    const reasons: string[] = [];
    try {
      for (const link of links(this.env, this.home)) {
        try {
          const source = link.open();
          if (!source) continue;
          await source.get(io);
          this.chosen = source;
          return source;
        } catch (error) {
          reasons.push(`${link.name}: ${(error as Error).message}`);
        }
      }
    } finally {
      this.pending = undefined;
    }
    throw new Error(
      "no Alibaba Cloud credentials: the source gives no keys and the vendor's chain found none (environment " +
        "ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, the OIDC role ALIBABA_CLOUD_ROLE_ARN/OIDC_PROVIDER_ARN/OIDC_TOKEN_FILE, " +
        "~/.aliyun/config.json, ~/.alibabacloud/credentials, ECS RAM role, ALIBABA_CLOUD_CREDENTIALS_URI)" +
        (reasons.length > 0 ? `; ${reasons.join("; ")}` : ""),
    );
  }
}
