import { createHash } from "node:crypto";
import type { VendorError } from "../../http.js";
import {
  type AliyunKeys,
  type CredentialIo,
  type CredentialSource,
  RenewingKeys,
  temporaryKeysOf,
} from "./types.js";

/** Names the call in errors. The URI itself is not shown: it may carry a token of its own. */
const CALL = "GET ALIBABA_CLOUD_CREDENTIALS_URI";

/** An error answer is not read: whatever serves keys may echo them back. Only 429 says throttled. */
function classifyUriError(status: number): VendorError {
  return { throttled: status === 429 };
}

/** One GET of the URI: `{AccessKeyId, AccessKeySecret, SecurityToken, Expiration}`, as the vendor's provider reads it. */
async function fetchKeys(url: URL, io: CredentialIo): Promise<AliyunKeys> {
  const scope = `aliyun-credentials-uri-${createHash("sha256").update(url.href).digest("hex").slice(0, 16)}`;
  const body = (await io.http.call({
    call: CALL,
    limiter: io.http.limiterFor(scope, 5, 2),
    stats: io.stats,
    signal: io.signal,
    redact: io.redact,
    timeoutMs: io.timeoutMs,
    classifyError: classifyUriError,
    prepare: () => ({ method: "GET", url, headers: {} }),
  })) as Record<string, unknown>;
  return temporaryKeysOf(body, CALL);
}

/**
 * The vendor chain's last link (@alicloud/credentials 2.4.7, `providers/uri.js`): temporary keys served by
 * `ALIBABA_CLOUD_CREDENTIALS_URI` (a sidecar, a local agent), fetched with GET and fetched again before they expire.
 * Undefined when it is not set.
 */
export function fromCredentialsUri(env: NodeJS.ProcessEnv = process.env): CredentialSource | undefined {
  const uri = env.ALIBABA_CLOUD_CREDENTIALS_URI;
  if (!uri) return undefined;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new Error("ALIBABA_CLOUD_CREDENTIALS_URI is not a URL: give http(s)://host[:port]/path");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`ALIBABA_CLOUD_CREDENTIALS_URI uses ${url.protocol}; only http: and https: are fetched`);
  }
  return new RenewingKeys(`from ALIBABA_CLOUD_CREDENTIALS_URI (${url.host})`, (io) => fetchKeys(url, io));
}
