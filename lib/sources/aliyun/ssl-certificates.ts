import type { SourceConfig } from "../../config/schema.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import { domainList, optionalInstant, optionalText } from "../fields.js";
import { MalformedResponseError } from "../http.js";
import { totalOf } from "../paging.js";
import type { CollectContext, SourceDriver } from "../types.js";
import { AliyunClient } from "./client.js";

type Source = Extract<SourceConfig, { type: "aliyun-ssl-certificates" }>;

const CALL = "ListUserCertificateOrder";

const STATUSES: Record<string, Status> = {
  ISSUED: "active",
  WILLEXPIRED: "active",
  EXPIRED: "expired",
  REVOKED: "revoked",
  PAYED: "pending",
  CHECKING: "pending",
  NOTACTIVATED: "pending",
  CHECKED_FAIL: "failed",
};

/** States in which no certificate exists yet, so no end date is expected. */
const UNISSUED: ReadonlySet<Status> = new Set(["pending", "failed"]);

function toObservation(
  source: Source,
  raw: Record<string, unknown>,
  where: string,
  warn: (message: string) => void,
): Observation {
  const nativeId = optionalText(raw.CertificateId) ?? optionalText(raw.InstanceId);
  if (!nativeId)
    throw new MalformedResponseError(CALL, `${where}.CertificateId`, "and InstanceId are both missing");
  const rawStatus = optionalText(raw.Status) ?? "";
  let status = STATUSES[rawStatus];
  if (!status) {
    warn(
      `${CALL}: ${where}.Status of certificate ${nativeId} is ${JSON.stringify(raw.Status)}, not a documented status`,
    );
    status = "unknown";
  }
  if (raw.Expired === true && status === "active") status = "expired";
  // CertEndTime is an instant; EndDate only a day, read as UTC midnight when it is all there is.
  const notAfter =
    optionalInstant(raw.CertEndTime, CALL, `${where}.CertEndTime`) ??
    optionalInstant(raw.EndDate, CALL, `${where}.EndDate`);
  if (!notAfter && !UNISSUED.has(status)) {
    throw new MalformedResponseError(
      CALL,
      `${where}.CertEndTime`,
      `is missing for ${rawStatus} certificate ${nativeId}`,
    );
  }
  const commonName = optionalText(raw.CommonName);
  return {
    key: objectKey(source.name, "certificate", nativeId),
    kind: "certificate",
    nativeId,
    name: optionalText(raw.Name) ?? commonName ?? nativeId,
    domains: domainList(commonName, raw.Domain, raw.Sans),
    notBefore:
      optionalInstant(raw.CertStartTime, CALL, `${where}.CertStartTime`) ??
      optionalInstant(raw.StartDate, CALL, `${where}.StartDate`),
    notAfter,
    status,
    rawStatus,
    details: {
      ...(optionalText(raw.Issuer) ? { issuer: String(raw.Issuer) } : {}),
      ...(raw.Upload === true ? { origin: "uploaded" } : {}),
    },
    labels: {
      ...source.labels,
      source: source.name,
      provider: "aliyun",
      product: "ssl",
      region: source.region,
    },
  };
}

/** Alibaba CAS SSL certificates, issued and uploaded: `ListUserCertificateOrder` with `OrderType=CERT`. */
export const aliyunSslCertificates: SourceDriver<"aliyun-ssl-certificates"> = {
  type: "aliyun-ssl-certificates",

  async *collect(source, context: CollectContext) {
    const client = new AliyunClient(source, context);
    const pages = client.pages({
      call: CALL,
      params: { OrderType: "CERT" },
      total: "TotalCount",
      list: "CertificateOrderList",
      read: (raw, where) => ({ raw, where }),
      idOf: (item) => String(item.raw.CertificateId ?? item.raw.InstanceId),
    });
    for await (const page of pages) {
      yield* page.map(({ raw, where }) => toObservation(source, raw, where, context.warn));
    }
  },

  async verify(source, context) {
    const client = new AliyunClient(source, context);
    const body = await client.rpc(CALL, { OrderType: "CERT", CurrentPage: 1, ShowSize: 1 });
    return `credentials accepted; ${totalOf(body, CALL, "TotalCount", "")} SSL certificates visible`;
  },
};
