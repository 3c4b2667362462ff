import type { SourceConfig } from "../../config/schema.js";
import { parseLocalTime } from "../../model/time.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import { MalformedResponseError } from "../http.js";
import { listOf, numberedPages, totalOf } from "../paging.js";
import type { CollectContext, SourceDriver } from "../types.js";
import { HuaweiClient } from "./client.js";

type ScmSource = Extract<SourceConfig, { type: "huawei-scm" }>;

const CALL = "ListCertificates";
const PATH = "/v3/scm/certificates";
/** The largest page SCM serves. */
export const PAGE_SIZE = 50;

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

/** States in which the certificate was never issued, so an empty expire_time is expected. */
const UNISSUED: ReadonlySet<Status> = new Set(["pending", "failed"]);

/** Reads one page of ListCertificates, naming the offset in every complaint. */
function readPage(body: unknown, offset: number): { items: Record<string, unknown>[]; total: number } {
  const record = (body ?? {}) as Record<string, unknown>;
  const where = `offset=${offset}: `;
  return {
    items: listOf(record, CALL, "certificates", where) as Record<string, unknown>[],
    total: totalOf(record, CALL, "total_count", where),
  };
}

function regionOf(source: ScmSource): string | undefined {
  if (source.region) return source.region;
  return /^scm\.([a-z0-9-]+)\.myhuaweicloud\.com$/.exec(new URL(source.endpoint).hostname)?.[1];
}

function toObservation(
  raw: Record<string, unknown>,
  where: string,
  source: ScmSource,
  warn: (message: string) => void,
): Observation {
  const field = (name: string) => `${where}.${name}`;
  const id = raw.id;
  if (typeof id !== "string" || id.length === 0)
    throw new MalformedResponseError(CALL, field("id"), "is missing");
  const rawStatus = typeof raw.status === "string" ? raw.status : "";
  let status = STATUS[rawStatus];
  if (!status) {
    warn(
      `${CALL}: ${field("status")} of certificate ${id} is ${JSON.stringify(raw.status)}, not a documented status`,
    );
    status = "unknown";
  }
  const expireText = typeof raw.expire_time === "string" ? raw.expire_time : "";
  let notAfter: string | undefined;
  if (expireText !== "") {
    notAfter = parseLocalTime(expireText, source.timezone);
    if (!notAfter) {
      throw new MalformedResponseError(
        CALL,
        field("expire_time"),
        `${JSON.stringify(expireText)} is not a time`,
      );
    }
  } else if (!UNISSUED.has(status)) {
    throw new MalformedResponseError(
      CALL,
      field("expire_time"),
      `is missing for ${rawStatus} certificate ${id}`,
    );
  }
  const domain = typeof raw.domain === "string" ? raw.domain : "";
  const sans = typeof raw.sans === "string" ? raw.sans.split(/[;,]/) : [];
  const domains = [...new Set([domain, ...sans].map((d) => d.trim()).filter(Boolean))];
  return {
    key: objectKey(source.name, "certificate", id),
    kind: "certificate",
    nativeId: id,
    name: typeof raw.name === "string" && raw.name ? raw.name : id,
    domains,
    notAfter,
    status,
    rawStatus,
    labels: {
      ...source.labels,
      source: source.name,
      provider: "huawei",
      product: "scm",
      region: regionOf(source),
    },
  };
}

/**
 * Huawei SCM: `GET /v3/scm/certificates` by offset. The first page tells `total_count`; the rest are fetched
 * concurrently within the credential's limits and yielded in order, one page in memory per slot.
 */
export const huaweiScm: SourceDriver<"huawei-scm"> = {
  type: "huawei-scm",

  async *collect(source: ScmSource, context: CollectContext) {
    const client = new HuaweiClient(source, context);
    const offsetOf = (page: number) => (page - 1) * PAGE_SIZE;
    const pages = numberedPages({
      call: CALL,
      pageSize: PAGE_SIZE,
      concurrency: client.limiter.concurrency,
      idOf: (raw: Record<string, unknown>) => String(raw.id),
      fetch: async (page) => {
        const offset = offsetOf(page);
        return readPage(await client.get(CALL, PATH, { limit: PAGE_SIZE, offset }), offset);
      },
    });
    let page = 0;
    for await (const certificates of pages) {
      const where = `offset=${offsetOf(++page)}: certificates`;
      yield* certificates.map((raw, index) => toObservation(raw, `${where}[${index}]`, source, context.warn));
    }
  },

  async verify(source: ScmSource, context: CollectContext) {
    const client = new HuaweiClient(source, context);
    const page = readPage(await client.get(CALL, PATH, { limit: 10, offset: 0 }), 0);
    return `credentials accepted; ${page.total} certificates visible`;
  },
};
