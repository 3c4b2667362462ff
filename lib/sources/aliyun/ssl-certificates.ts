import type { SourceConfig } from "../../config/schema.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import {
  domainList,
  optionalInstant,
  optionalText,
  requiredInstant,
  requiredText,
  stringArray,
} from "../fields.js";
import { totalOf } from "../paging.js";
import type { CollectContext, SourceDriver } from "../types.js";
import { AliyunClient, casRegionOf } from "./client.js";

type Source = Extract<SourceConfig, { type: "aliyun-ssl-certificates" }>;

const CALL = "ListCertificates";

/**
 * One listing per status, in the order a certificate moves through them (issued → willExpire → expired, and
 * revoked from any), so a certificate that changes status between two listings is in the later one: none falls
 * between them. CAS documents no default for an absent `CertificateStatus`, and its older listing
 * (`ListUserCertificateOrder`) leaves expired certificates out unless asked, so every status is asked for by name.
 */
const WALKS = ["issued", "willExpire", "expired", "revoked"] as const;

const STATUSES: Record<string, Status> = {
  issued: "active",
  willExpire: "active",
  expired: "expired",
  revoked: "revoked",
};

function toObservation(
  source: Source,
  raw: Record<string, unknown>,
  listed: (typeof WALKS)[number],
  where: string,
  warn: (message: string) => void,
): Observation {
  const field = (name: string) => `${where}.${name}`;
  const nativeId = requiredText(raw.CertificateId, CALL, field("CertificateId"));
  const rawStatus = optionalText(raw.CertificateStatus) ?? listed;
  let status = STATUSES[rawStatus];
  if (!status) {
    warn(
      `${CALL}: ${field("CertificateStatus")} of certificate ${nativeId} is ${JSON.stringify(raw.CertificateStatus)}, not a documented status`,
    );
    status = "unknown";
  }
  const commonName = optionalText(raw.CommonName);
  const usedBy = stringArray(raw.UsingProductList, CALL, field("UsingProductList"));
  return {
    key: objectKey(source.name, "certificate", nativeId),
    kind: "certificate",
    nativeId,
    name: optionalText(raw.CertificateName) ?? commonName ?? nativeId,
    domains: domainList(
      commonName,
      raw.Domain,
      ...stringArray(raw.SubjectAlternativeNames, CALL, field("SubjectAlternativeNames")),
    ),
    // The vendor states no unit; its example is milliseconds. Read by magnitude, like every vendor time.
    notBefore: optionalInstant(raw.NotBefore, CALL, field("NotBefore")),
    notAfter: requiredInstant(raw.NotAfter, CALL, field("NotAfter")),
    status,
    rawStatus,
    details: {
      ...(optionalText(raw.Issuer) ? { issuer: String(raw.Issuer) } : {}),
      ...(optionalText(raw.Serial) ? { serial: String(raw.Serial) } : {}),
      ...(raw.CertificateSource === "UPLOAD" ? { origin: "uploaded" } : {}),
      ...(usedBy.length > 0 ? { usedBy: usedBy.join(", ") } : {}),
    },
    labels: {
      ...source.labels,
      source: source.name,
      provider: "aliyun",
      product: "ssl",
      region: casRegionOf(source),
    },
  };
}

/**
 * Alibaba CAS SSL certificates, bought, test and uploaded: `ListCertificates`, once per status. It gives the exact
 * `NotAfter` (the older `ListUserCertificateOrder` gives CERT rows a date only) and lists revoked certificates,
 * which the older call cannot show for issued and uploaded certificates at all.
 */
export const aliyunSslCertificates: SourceDriver<"aliyun-ssl-certificates"> = {
  type: "aliyun-ssl-certificates",

  async *collect(source, context: CollectContext) {
    const client = new AliyunClient(source, context);
    for (const status of WALKS) {
      const pages = client.pages({
        call: CALL,
        params: { CertificateStatus: status },
        where: `CertificateStatus=${status}`,
        pageSize: 100,
        total: "TotalCount",
        list: "CertificateList",
        read: (raw, where) => toObservation(source, raw, status, where, context.warn),
        idOf: (observation) => observation.nativeId,
        onTotal: context.total,
      });
      for await (const page of pages) yield* page;
    }
  },

  async verify(source, context) {
    const client = new AliyunClient(source, context);
    const counts: string[] = [];
    for (const status of WALKS) {
      const body = await client.rpc(CALL, { CertificateStatus: status, CurrentPage: 1, ShowSize: 1 });
      counts.push(`${status} ${totalOf(body, CALL, "TotalCount", `CertificateStatus=${status}: `)}`);
    }
    return `credentials accepted (${client.credentialsUsed}); SSL certificates visible: ${counts.join(", ")}`;
  },
};
