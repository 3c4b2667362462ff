import type { SourceConfig } from "../../config/schema.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import {
  domainList,
  jsonSans,
  MAX_NAMES,
  optionalInstant,
  optionalText,
  requiredInstant,
  requiredText,
  type SubjectAltNames,
} from "../fields.js";
import { MalformedResponseError } from "../http.js";
import { listOf, numberedPlaceOf, totalOf } from "../paging.js";
import { pemDetails, readPem } from "../pem-facts.js";
import type { CollectContext, SourceDriver } from "../types.js";
import { AliyunClient, casRegionOf } from "./client.js";

type Source = Extract<SourceConfig, { type: "aliyun-client-certificates" }>;

const LIST = "ListClientCertificate";
const STATUS = "DescribeClientCertificateStatus";

const STATUSES: Record<string, Status> = { good: "active", revoked: "revoked", unknown: "unknown" };

interface Listed {
  raw: Record<string, unknown>;
  where: string;
  identifier: string;
  serial: string;
  notAfter: string;
  sans: SubjectAltNames;
}

function readListed(raw: Record<string, unknown>, where: string): Listed {
  return {
    raw,
    where,
    identifier: requiredText(raw.Identifier, LIST, `${where}.Identifier`),
    serial: requiredText(raw.SerialNumber, LIST, `${where}.SerialNumber`).toLowerCase(),
    notAfter: requiredInstant(raw.AfterDate, LIST, `${where}.AfterDate`),
    sans: jsonSans(raw.Sans, LIST, `${where}.Sans`),
  };
}

function toObservation(
  source: Source,
  listed: Listed,
  state: Record<string, unknown> | undefined,
  where: string,
  warn: (message: string) => void,
): Observation {
  const { raw, identifier, sans } = listed;
  if (sans.dropped > 0) {
    warn(
      `${LIST}: ${sans.dropped} subject alternative names of client certificate ${identifier} were left out (control characters, too long, or past ${MAX_NAMES})`,
    );
  }
  // The listing's own Status says REVOKE or ISSUE; the status call says good, revoked or unknown. Either one saying
  // revoked is a revocation: a status call that lags or does not know must not hide one.
  const listedRevoked = raw.Status === "REVOKE";
  let rawStatus = optionalText(state?.Status) ?? "";
  let status: Status | undefined = STATUSES[rawStatus];
  if (state && !status) {
    warn(
      `${STATUS}: ${where}.Status of ${identifier} is ${JSON.stringify(state.Status)}, not a documented status`,
    );
  } else if (!state && !listedRevoked) {
    warn(
      `${STATUS}: no status was returned for client certificate ${identifier}; watching it on expiry only`,
    );
  }
  if (listedRevoked && status !== "revoked") {
    if (state) {
      warn(
        `${LIST} lists client certificate ${identifier} as REVOKE while ${STATUS} says ${JSON.stringify(state.Status)}; taken as revoked`,
      );
    }
    status = "revoked";
    rawStatus = "REVOKE";
  }
  status ??= "unknown";
  // RevokeTime, returned only for a revoked certificate, is documented as an integer and shown as `2021-01-01T00:00Z`.
  const revokedAt =
    state?.Status === "revoked"
      ? optionalInstant(state.RevokeTime, STATUS, `${where}.RevokeTime`)
      : undefined;
  const commonName = optionalText(raw.CommonName);
  const pem = optionalText(raw.X509Certificate);
  const facts =
    pem && readPem(pem, `${LIST}: ${listed.where}.X509Certificate of client certificate ${identifier}`, warn);
  return {
    key: objectKey(source.name, "client-certificate", identifier),
    kind: "client-certificate",
    nativeId: identifier,
    name: commonName ?? identifier,
    // Names a TLS endpoint can be reached by; email and URI names are kept as details.
    domains: domainList(commonName, ...sans.dns, ...sans.ip),
    notBefore: optionalInstant(raw.BeforeDate, LIST, `${listed.where}.BeforeDate`),
    notAfter: listed.notAfter,
    status,
    rawStatus,
    revokedAt,
    details: {
      serial: listed.serial,
      ...(optionalText(raw.ParentIdentifier) ? { issuer: String(raw.ParentIdentifier) } : {}),
      ...(sans.email.length > 0 ? { emails: sans.email.join(", ") } : {}),
      ...(sans.uri.length > 0 ? { uris: sans.uri.join(", ") } : {}),
      // The PEM's SANs against the listed ones (not the common name, which a SAN need not repeat); a listing that
      // left names out cannot be compared.
      ...(facts ? pemDetails(facts, sans.dropped > 0 ? undefined : [...sans.dns, ...sans.ip]) : {}),
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

/** Revocation states for a batch of listed certificates, matched back by serial number. */
async function withStatus(
  client: AliyunClient,
  source: Source,
  context: CollectContext,
  batch: Listed[],
  where: string,
): Promise<Observation[]> {
  const body = await client.rpc(STATUS, {
    Identifier: batch.map((listed) => listed.identifier).join(","),
  });
  const states = new Map<string, { state: Record<string, unknown>; where: string }>();
  listOf(body, STATUS, "CertificateStatus", `${where}: `).forEach((entry, index) => {
    const state = entry as Record<string, unknown>;
    const serial = optionalText(state.SerialNumber)?.toLowerCase();
    if (serial) states.set(serial, { state, where: `${where}: CertificateStatus[${index}]` });
  });
  return batch.map((listed) => {
    const found = states.get(listed.serial);
    return toObservation(source, listed, found?.state, found?.where ?? where, context.warn);
  });
}

function resourceGroup(source: Source): Record<string, string> {
  return source.resourceGroupId ? { ResourceGroupId: source.resourceGroupId } : {};
}

/**
 * Alibaba private-CA client and server certificates: `ListClientCertificate` by page, then their revocation state
 * from `DescribeClientCertificateStatus` in batches of comma-separated identifiers, matched back by serial number.
 * Resumable: its place is the listing's numbered place (`NumberedPlace`).
 */
export const aliyunClientCertificates: SourceDriver<"aliyun-client-certificates"> = {
  type: "aliyun-client-certificates",

  async *collect(source, context: CollectContext) {
    const client = new AliyunClient(source, context);
    let batchNumber = 0;
    const waiting: Listed[] = [];
    const { reached } = context;
    const pages = client.pages({
      call: LIST,
      params: resourceGroup(source),
      total: "TotalCount",
      list: "CertificateList",
      read: readListed,
      idOf: (listed) => listed.identifier,
      onTotal: context.total,
      resume: numberedPlaceOf(context.resumeFrom, LIST),
      // A place is offered only at a page end where no listed certificate waits for its status (the batches came out
      // even), rather than describing a partial batch at every page end: it costs no extra call, where flushing would
      // nearly double the status calls for a batch size that does not divide the page. With the default batch of
      // 50, a page, every page end is a place; at worst (a batch size prime to 50) places are that many pages apart,
      // at most 99.
      reached:
        reached &&
        ((place) => {
          if (waiting.length === 0) reached(place);
        }),
    });
    const describe = (batch: Listed[]) =>
      withStatus(client, source, context, batch, `batch ${++batchNumber}`);
    for await (const page of pages) {
      waiting.push(...page);
      while (waiting.length >= source.statusBatchSize) {
        yield* await describe(waiting.splice(0, source.statusBatchSize));
      }
    }
    if (waiting.length > 0) yield* await describe(waiting);
  },

  /**
   * `ListClientCertificate` filtered by `Identifier`. The API has no "not found" error: an empty listing is the
   * answer. A listing that holds other certificates means the filter was not applied, which decides nothing.
   */
  async lookUp(source, context, missing) {
    const client = new AliyunClient(source, context);
    const where = `Identifier=${missing.nativeId}`;
    const body = await client.rpc(LIST, { ...resourceGroup(source), Identifier: missing.nativeId });
    const listed = listOf(body, LIST, "CertificateList", `${where}: `).map((raw, index) =>
      readListed(raw as Record<string, unknown>, `${where}: CertificateList[${index}]`),
    );
    if (listed.length === 0) return "gone";
    const match = listed.find((entry) => entry.identifier === missing.nativeId);
    if (!match || listed.length > 1) {
      throw new MalformedResponseError(
        LIST,
        `${where}: CertificateList`,
        "holds other certificates than the one asked for",
      );
    }
    // One certificate in, one observation out.
    return (await withStatus(client, source, context, [match], where))[0] as Observation;
  },

  async verify(source, context) {
    const client = new AliyunClient(source, context);
    const body = await client.rpc(LIST, { CurrentPage: 1, ShowSize: 1 });
    return `credentials accepted (${client.credentialsUsed}); ${totalOf(body, LIST, "TotalCount", "")} client certificates visible`;
  },
};
