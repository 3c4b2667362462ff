import { encodeRfc3986, hmacSha256Hex, sha256Hex } from "../encoding.js";

/** Alibaba Cloud V3 signing, `ACS3-HMAC-SHA256`. */
export const ALGORITHM = "ACS3-HMAC-SHA256";

export interface AliyunSignable {
  method: string;
  url: URL;
  /** Lower-case names; `host`, `content-type` and every `x-acs-*` header are signed. */
  headers: Record<string, string>;
  /** The query's decoded pairs, when the caller read them itself; `url.searchParams` otherwise. */
  query?: [string, string][];
}

function isSigned(name: string): boolean {
  return name === "host" || name === "content-type" || name.startsWith("x-acs-");
}

/** The canonical request; exported so that the simulator verifies with the same definition the client signs with. */
export function canonicalRequest(request: AliyunSignable): { text: string; signedHeaders: string } {
  const headers = Object.entries(request.headers)
    .map(([name, value]) => [name.toLowerCase(), value.trim()] as const)
    .filter(([name]) => isSigned(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = headers.map(([name]) => name).join(";");
  const query = [...(request.query ?? request.url.searchParams)]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${encodeRfc3986(key)}=${encodeRfc3986(value)}`)
    .join("&");
  const text = [
    request.method.toUpperCase(),
    request.url.pathname || "/",
    query,
    headers.map(([name, value]) => `${name}:${value}\n`).join(""),
    signedHeaders,
    request.headers["x-acs-content-sha256"] ?? sha256Hex(""),
  ].join("\n");
  return { text, signedHeaders };
}

export function signature(secretKey: string, canonical: string): string {
  return hmacSha256Hex(secretKey, `${ALGORITHM}\n${sha256Hex(canonical)}`);
}

/** `2026-11-22T08:01:02Z`: ISO 8601 UTC to the second, as x-acs-date requires. */
export function acsDate(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface AliyunCall {
  action: string;
  version: string;
  method: "GET" | "POST";
  url: URL;
  body?: string;
}

/** Headers for one attempt of one call: a fresh date and nonce each time, so a retry is never a replay. */
export function signCall(
  call: AliyunCall,
  credentials: { accessKey: string; secretKey: string; securityToken?: string },
  now: Date,
  nonce: string,
): Record<string, string> {
  const headers: Record<string, string> = {
    host: call.url.host,
    "x-acs-action": call.action,
    "x-acs-version": call.version,
    "x-acs-date": acsDate(now),
    "x-acs-signature-nonce": nonce,
    "x-acs-content-sha256": sha256Hex(call.body ?? ""),
  };
  if (credentials.securityToken) headers["x-acs-security-token"] = credentials.securityToken;
  const { text, signedHeaders } = canonicalRequest({ method: call.method, url: call.url, headers });
  return {
    ...headers,
    authorization: `${ALGORITHM} Credential=${credentials.accessKey},SignedHeaders=${signedHeaders},Signature=${signature(credentials.secretKey, text)}`,
  };
}
