import type { SourceConfig } from "../../config/schema.js";
import { parseInstant, parseLocalTime } from "../../model/time.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import { domainList } from "../fields.js";
import { ApiError, MalformedResponseError } from "../http.js";
import { listOf, numberedPages, numberedPlaceOf, totalOf } from "../paging.js";
import { walkRulesOf } from "../scope.js";
import type { CollectContext, SourceDriver } from "../types.js";
import { HuaweiClient } from "./client.js";

type ScmSource = Extract<SourceConfig, { type: "huawei-scm" }>;

const LIST = "ListCertificates";
const SHOW = "ShowCertificate";
const PATH = "/v3/scm/certificates";
/** The largest page SCM serves. */
export const PAGE_SIZE = 50;

/**
 * The order certwatch lists in. SCM's default, certUpdateTime DESC, moves a certificate to the front whenever it is
 * renewed or changed, so a walk by offset skips or repeats entries while the inventory changes. By expiry, ascending,
 * a new certificate (usually the latest expiry) lands at the end and an entry moves only when its own expiry does;
 * what still moves is caught by the completeness checks (the total moved, fewer distinct entries than the total).
 */
const ORDER = { sort_key: "certExpiredTime", sort_dir: "ASC" };

/**
 * expired_days_since is documented as "valid certificates plus those expired at most N days ago", default 0: read
 * as written, a listing without it loses a certificate the day it expires, and an expiry would pass for a deletion.
 * The most the API accepts keeps expired certificates listed for three years.
 */
const FILTER = { expired_days_since: 1095 };

const STATUS: Record<string, Status> = {
  ISSUED: "active",
  UPLOAD: "active",
  REVOKING: "active",
  CANCLEREVOKING: "active",
  SUPPLEMENTCHECKING: "active",
  CANCELSUPPLEMENTING: "active",
  EXPIRED: "expired",
  REVOKED: "revoked",
  PAID: "pending",
  CHECKING: "pending",
  CANCELCHECKING: "pending",
  CHECKING_ORG: "pending",
  ISSUING: "pending",
  UNPASSED: "failed",
};

/** States in which the certificate was never issued, so an empty expiry is expected. */
const UNISSUED: ReadonlySet<Status> = new Set(["pending", "failed"]);

/** Which call a certificate came from, the field holding its expiry, and how to name a field in complaints. */
interface Reading {
  call: string;
  expiryField: "expire_time" | "not_after";
  field: (name: string) => string;
}

/** Reads one page of ListCertificates, naming the offset in every complaint. */
function readPage(body: unknown, offset: number): { items: Record<string, unknown>[]; total: number } {
  const record = (body ?? {}) as Record<string, unknown>;
  const where = `offset=${offset}: `;
  return {
    items: listOf(record, LIST, "certificates", where) as Record<string, unknown>[],
    total: totalOf(record, LIST, "total_count", where),
  };
}

/**
 * An SCM time: wall-clock text without a zone (expire_time's documented form, read in the source's timezone), or,
 * because ShowCertificate's not_after has no stated format, an ISO instant with its zone or an epoch number.
 */
function scmInstant(value: unknown, timezone: string): string | undefined {
  if (typeof value === "string") {
    const local = parseLocalTime(value, timezone);
    if (local) return local;
    if (!/^\d+$|(Z|[+-]\d{2}:?\d{2})$/.test(value.trim())) return undefined;
  } else if (typeof value !== "number") return undefined;
  return parseInstant(value);
}

/** The expiry; empty (null or "", as the pages show) only for a certificate that was never issued. */
function readExpiry(
  raw: Record<string, unknown>,
  reading: Reading,
  source: ScmSource,
  certificate: { id: string; status: Status; rawStatus: string },
): string | undefined {
  const value = raw[reading.expiryField];
  if (value === undefined || value === null || value === "") {
    if (UNISSUED.has(certificate.status)) return undefined;
    throw new MalformedResponseError(
      reading.call,
      reading.field(reading.expiryField),
      `is missing for ${certificate.rawStatus} certificate ${certificate.id}`,
    );
  }
  const instant = scmInstant(value, source.timezone);
  if (!instant) {
    throw new MalformedResponseError(
      reading.call,
      reading.field(reading.expiryField),
      `${JSON.stringify(value)} is not a time`,
    );
  }
  return instant;
}

function toObservation(
  raw: Record<string, unknown>,
  reading: Reading,
  source: ScmSource,
  warn: (message: string) => void,
): Observation {
  const id = raw.id;
  if (typeof id !== "string" || id.length === 0)
    throw new MalformedResponseError(reading.call, reading.field("id"), "is missing");
  const rawStatus = typeof raw.status === "string" ? raw.status : "";
  let status = STATUS[rawStatus];
  if (!status) {
    warn(
      `${reading.call}: ${reading.field("status")} of certificate ${id} is ${JSON.stringify(raw.status)}, not a documented status`,
    );
    status = "unknown";
  }
  return {
    key: objectKey(source.name, "certificate", id),
    kind: "certificate",
    nativeId: id,
    name: typeof raw.name === "string" && raw.name ? raw.name : id,
    domains: domainList(raw.domain, raw.sans),
    notAfter: readExpiry(raw, reading, source, { id, status, rawStatus }),
    status,
    rawStatus,
    labels: {
      ...source.labels,
      source: source.name,
      provider: "huawei",
      product: "scm",
      // SCM is global: a region is a label the operator gave, never one read from the endpoint.
      region: source.region,
    },
  };
}

/**
 * SCM's own "no such certificate": a 404 whose JSON names an SCM error code (the contract documents no not-found code
 * for ShowCertificate, only 401, 403 and 500 as `SCM.XXX` placeholders). A 404 from the gateway (`APIGW.0101`, no such
 * API, as at a wrong endpoint), a proxy's HTML page or an empty body says nothing about the certificate.
 */
function isCertificateNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.detail.status === 404 && /^SCM\./.test(error.detail.code ?? "");
}

/**
 * One certificate by id (`ShowCertificate`), read into the listing's shape: to confirm that a certificate missing
 * from a listing is really gone before anyone is told. "gone" only on SCM's 404; any other failure throws.
 */
export async function lookUpScmCertificate(
  source: ScmSource,
  context: CollectContext,
  id: string,
): Promise<Observation | "gone"> {
  const client = new HuaweiClient(source, context);
  let body: unknown;
  try {
    body = await client.get(SHOW, `${PATH}/${encodeURIComponent(id)}`, {});
  } catch (error) {
    if (isCertificateNotFound(error)) return "gone";
    throw error;
  }
  const record = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const reading: Reading = { call: SHOW, expiryField: "not_after", field: (name) => `${id}: ${name}` };
  // The SDK marks every field of this answer optional, the id too: the one asked for stands in for it.
  if ((record.id ?? id) !== id) {
    throw new MalformedResponseError(
      SHOW,
      reading.field("id"),
      `is ${JSON.stringify(record.id)}, not the id asked for`,
    );
  }
  return toObservation({ ...record, id }, reading, source, context.warn);
}

/**
 * Huawei SCM: `GET /v3/scm/certificates` by offset. The first page tells `total_count`; the rest are fetched
 * concurrently within the credential's limits and yielded in order, one page in memory per slot. Resumable: its
 * place is the numbered walk's (`NumberedPlace`), page n always being offset (n - 1) * PAGE_SIZE.
 */
export const huaweiScm: SourceDriver<"huawei-scm"> = {
  type: "huawei-scm",

  async *collect(source: ScmSource, context: CollectContext) {
    const client = new HuaweiClient(source, context);
    const offsetOf = (page: number) => (page - 1) * PAGE_SIZE;
    const resume = numberedPlaceOf(context.resumeFrom, LIST);
    const pages = numberedPages({
      ...walkRulesOf(source, context),
      call: LIST,
      pageSize: PAGE_SIZE,
      concurrency: client.limiter.concurrency,
      idOf: (raw: Record<string, unknown>) => String(raw.id),
      onTotal: context.total,
      resume,
      reached: context.reached,
      fetch: async (page) => {
        const offset = offsetOf(page);
        const query = { ...ORDER, ...FILTER, limit: PAGE_SIZE, offset };
        return readPage(await client.get(LIST, PATH, query), offset);
      },
    });
    let page = (resume?.page ?? 1) - 1;
    for await (const certificates of pages) {
      const where = `offset=${offsetOf(++page)}: certificates`;
      yield* certificates.map((raw, index) => {
        const reading: Reading = {
          call: LIST,
          expiryField: "expire_time",
          field: (name) => `${where}[${index}].${name}`,
        };
        return toObservation(raw, reading, source, context.warn);
      });
    }
  },

  lookUp: (source, context, missing) => lookUpScmCertificate(source, context, missing.nativeId),

  async verify(source: ScmSource, context: CollectContext) {
    const client = new HuaweiClient(source, context);
    const page = readPage(await client.get(LIST, PATH, { ...ORDER, ...FILTER, limit: 10, offset: 0 }), 0);
    return `credentials accepted; ${page.total} certificates visible`;
  },
};
