import { createHash } from "node:crypto";
import type { SourceConfig } from "../config/schema.js";
import { parseDuration } from "../model/time.js";
import type { HttpClient, Limiter } from "./http.js";

/**
 * Which vendor budget a source spends: sources with the same credential share it, whatever their names. A hash,
 * so that the key itself never becomes a queue group id, a log field or a map key.
 */
export function credentialScope(source: SourceConfig): string {
  const cloud = source.type.startsWith("huawei") ? "huawei" : "aliyun";
  const { credentials } = source;
  const identity =
    credentials.accessKey ?? ("token" in credentials ? credentials.token : undefined) ?? source.name;
  return `${cloud}-${createHash("sha256").update(identity).digest("hex").slice(0, 16)}`;
}

/**
 * How a source's calls are paced: its credential's shared limiter (10 calls a second and 4 in flight unless the
 * source says otherwise) and the time each call may take (20 s unless `timeout`).
 */
export function pacingOf(source: SourceConfig, http: HttpClient): { limiter: Limiter; timeoutMs: number } {
  return {
    limiter: http.limiterFor(credentialScope(source), source.qps ?? 10, source.concurrency ?? 4),
    timeoutMs: parseDuration(source.timeout ?? "20s") ?? 20_000,
  };
}
