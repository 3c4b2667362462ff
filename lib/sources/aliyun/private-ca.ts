import type { SourceConfig } from "../../config/schema.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import { optionalInstant, optionalText, requiredInstant, requiredText } from "../fields.js";
import { MalformedResponseError } from "../http.js";
import { listOf, totalOf } from "../paging.js";
import type { SourceDriver } from "../types.js";
import { AliyunClient, casRegionOf } from "./client.js";
import { credentialsFor } from "./credentials/index.js";

type Source = Extract<SourceConfig, { type: "aliyun-private-ca" }>;

/**
 * The issue names `ListPcaCaCertificate`, but its answer (vendor-contracts.json) holds no validity dates: only
 * CertIdentifier, IssuerIdentifier, CommonName and Status. `DescribeCACertificateList`, in the same 2020-06-30
 * version, lists the same root and subordinate CAs with `AfterDate`/`BeforeDate` (epoch ms), `ParentIdentifier` and
 * `CertificateType`, so it alone is the listing: an expiry cannot be watched without an end date.
 */
const LIST = "DescribeCACertificateList";

/** The page asked for: the contract states only a default (20), and every CAS listing serves 50. */
const PAGE_SIZE = 50;

/** `Status`, the contract's enum: ISSUE or REVOKE. */
const STATUSES: Record<string, Status> = { ISSUE: "active", REVOKE: "revoked" };

/** `CertificateType`, the contract's enum: a root CA signs itself, a subordinate has a parent. */
const CA_TYPES: Record<string, string> = { ROOT: "root", SUB_ROOT: "subordinate" };

function toObservation(
  source: Source,
  raw: Record<string, unknown>,
  where: string,
  warn: (message: string) => void,
): Observation {
  const identifier = requiredText(raw.Identifier, LIST, `${where}.Identifier`);
  const rawStatus = optionalText(raw.Status) ?? "";
  let status = STATUSES[rawStatus];
  if (!status) {
    warn(
      `${LIST}: ${where}.Status of CA ${identifier} is ${JSON.stringify(raw.Status)}, not ISSUE or REVOKE`,
    );
    status = "unknown";
  }
  const parent = optionalText(raw.ParentIdentifier);
  const issuer = parent && parent !== identifier ? parent : undefined;
  let caType = CA_TYPES[optionalText(raw.CertificateType) ?? ""];
  if (!caType) {
    warn(
      `${LIST}: ${where}.CertificateType of CA ${identifier} is ${JSON.stringify(raw.CertificateType)}, not ROOT or SUB_ROOT; taken from ParentIdentifier`,
    );
    caType = issuer ? "subordinate" : "root";
  }
  const serial = optionalText(raw.SerialNumber)?.toLowerCase();
  return {
    key: objectKey(source.name, "certificate-authority", identifier),
    kind: "certificate-authority",
    nativeId: identifier,
    name: optionalText(raw.CommonName) ?? optionalText(raw.Alias) ?? identifier,
    // A CA's name is no hostname: it is reached through what it issued, never probed itself.
    domains: [],
    notBefore: optionalInstant(raw.BeforeDate, LIST, `${where}.BeforeDate`),
    notAfter: requiredInstant(raw.AfterDate, LIST, `${where}.AfterDate`),
    status,
    rawStatus,
    // Dependents (client certificates whose ParentIdentifier is this CA) live in aliyun-client-certificates
    // sources: this listing cannot count them, so `dependents` is left for the store's index to fill.
    details: {
      caType,
      ...(issuer ? { issuer } : {}),
      ...(serial ? { serial } : {}),
    },
    labels: {
      ...source.labels,
      source: source.name,
      provider: "aliyun",
      product: "private-ca",
      region: casRegionOf(source),
    },
  };
}

function filters(source: Source): Record<string, string> {
  return source.resourceGroupId ? { ResourceGroupId: source.resourceGroupId } : {};
}

/**
 * Alibaba private CAs, root and subordinate: `DescribeCACertificateList` (2020-06-30) by CurrentPage/ShowSize with
 * TotalCount. The contract documents no default filter (CaStatus, ValidStatus, CertType), so none is sent and
 * revoked and expired CAs are listed too.
 */
export const aliyunPrivateCa: SourceDriver<"aliyun-private-ca"> = {
  type: "aliyun-private-ca",

  async *collect(source, context) {
    const pages = new AliyunClient(source, context).pages({
      call: LIST,
      params: filters(source),
      pageSize: PAGE_SIZE,
      total: "TotalCount",
      list: "CertificateList",
      read: (raw, where) => toObservation(source, raw, where, context.warn),
      idOf: (observation) => observation.nativeId,
      onTotal: context.total,
    });
    for await (const page of pages) yield* page;
  },

  /**
   * `DescribeCACertificateList` filtered by `Identifier`: an empty listing is the API's "no such CA" (it has no
   * not-found error). A listing holding other CAs means the filter was not applied, which decides nothing.
   */
  async lookUp(source, context, missing) {
    const where = `Identifier=${missing.nativeId}`;
    const client = new AliyunClient(source, context);
    const body = await client.rpc(LIST, { ...filters(source), Identifier: missing.nativeId });
    const listed = listOf(body, LIST, "CertificateList", `${where}: `) as Record<string, unknown>[];
    if (listed.length === 0) return "gone";
    if (listed.length > 1 || optionalText(listed[0]?.Identifier) !== missing.nativeId) {
      throw new MalformedResponseError(
        LIST,
        `${where}: CertificateList`,
        "holds other CAs than the one asked for",
      );
    }
    return toObservation(
      source,
      listed[0] as Record<string, unknown>,
      `${where}: CertificateList[0]`,
      context.warn,
    );
  },

  async verify(source, context) {
    const body = await new AliyunClient(source, context).rpc(LIST, {
      ...filters(source),
      CurrentPage: 1,
      ShowSize: 1,
    });
    const total = totalOf(body, LIST, "TotalCount", "page 1: ");
    return `credentials accepted (${credentialsFor(source).description}); ${total} private CAs visible`;
  },
};
