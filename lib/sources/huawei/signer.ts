import { encodeRfc3986, hmacSha256Hex, sha256Hex } from "../encoding.js";
import type { HuaweiCredential } from "./credentials.js";

/** Huawei APIG AK/SK signing, `SDK-HMAC-SHA256`. */
export const ALGORITHM = "SDK-HMAC-SHA256";

export interface SignableRequest {
  method: string;
  url: URL;
  /** Headers to sign besides `host` and `X-Sdk-Date`, e.g. `Content-Type`, `X-Project-Id`. */
  headers: Record<string, string>;
  body?: string;
}

/** `YYYYMMDDTHHMMSSZ` */
export function sdkDate(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/**
 * Each segment of the path as sent (already percent-encoded by URL) is encoded once more, as the gateway and
 * the vendor's SDK do: a space travels as %20 and is signed as %2520.
 */
function canonicalUri(pathname: string): string {
  const encoded = pathname.split("/").map(encodeRfc3986).join("/");
  return encoded.endsWith("/") ? encoded : `${encoded}/`;
}

/** Sorted by raw key, then raw value, and encoded afterwards: the vendor's order for non-ASCII keys. */
function canonicalQuery(url: URL): string {
  const pairs = [...url.searchParams];
  pairs.sort(([ka, va], [kb, vb]) => (ka === kb ? (va < vb ? -1 : va > vb ? 1 : 0) : ka < kb ? -1 : 1));
  return pairs.map(([key, value]) => `${encodeRfc3986(key)}=${encodeRfc3986(value)}`).join("&");
}

/** The canonical request and signed header list; exported so the simulator verifies with the same definition. */
export function canonicalRequest(request: SignableRequest): { text: string; signedHeaders: string } {
  const headers = Object.entries(request.headers).map(
    ([name, value]) => [name.toLowerCase(), value] as const,
  );
  headers.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = headers.map(([name]) => name).join(";");
  const text = [
    request.method.toUpperCase(),
    canonicalUri(request.url.pathname),
    canonicalQuery(request.url),
    headers.map(([name, value]) => `${name}:${value}\n`).join(""),
    signedHeaders,
    sha256Hex(request.body ?? ""),
  ].join("\n");
  return { text, signedHeaders };
}

export function signature(secretKey: string, date: string, canonical: string): string {
  return hmacSha256Hex(secretKey, [ALGORITHM, date, sha256Hex(canonical)].join("\n"));
}

/** Returns the request's headers plus `Host`, `X-Sdk-Date` and `Authorization`. */
export function signRequest(
  request: SignableRequest,
  credentials: { accessKey: string; secretKey: string },
  now: Date,
): Record<string, string> {
  const date = sdkDate(now);
  const headers = { ...request.headers, host: request.url.host, "X-Sdk-Date": date };
  const { text, signedHeaders } = canonicalRequest({ ...request, headers });
  const sig = signature(credentials.secretKey, date, text);
  return {
    ...headers,
    Authorization: `${ALGORITHM} Access=${credentials.accessKey}, SignedHeaders=${signedHeaders}, Signature=${sig}`,
  };
}

/**
 * The headers of a call made with `credential`: an IAM token goes in X-Auth-Token unsigned; AK/SK keys sign the
 * request, with the security token of temporary keys in X-Security-Token (signed too, as the SDK does).
 */
export function authorizedHeaders(
  request: SignableRequest,
  credential: HuaweiCredential,
  now = new Date(),
): Record<string, string> {
  if (credential.kind === "token") return { ...request.headers, "X-Auth-Token": credential.token };
  const headers = credential.securityToken
    ? { ...request.headers, "X-Security-Token": credential.securityToken }
    : request.headers;
  return signRequest({ ...request, headers }, credential, now);
}
