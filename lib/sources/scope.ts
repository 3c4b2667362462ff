import { createHash } from "node:crypto";
import type { SourceConfig } from "../config/schema.js";

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
