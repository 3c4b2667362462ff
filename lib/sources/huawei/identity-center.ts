import type { SourceConfig } from "../../config/schema.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import { mapInOrder } from "../concurrency.js";
import { optionalInstant, optionalText, requiredText } from "../fields.js";
import { MalformedResponseError, SweepLimitError } from "../http.js";
import { listOf, ServedIds, type WalkRules } from "../paging.js";
import { walkRulesOf } from "../scope.js";
import type { CollectContext, SourceDriver } from "../types.js";
import { HuaweiClient } from "./client.js";

type IdentityCenterSource = Extract<SourceConfig, { type: "huawei-identity-center" }>;

const LIST_APPLICATIONS = "ListApplicationInstances";
const LIST_CERTIFICATES = "ListApplicationInstanceCertificates";
/** The most a page may hold: ListInstances documents limit 1 to 100; these two calls document no range. */
export const PAGE_SIZE = 100;

const STATUS: Record<string, Status> = { ACTIVE: "active", INACTIVE: "inactive" };

interface ApplicationInstance {
  id: string;
  name?: string;
}

interface Certificate {
  id: string;
  status: Status;
  rawStatus: string;
  notBefore?: string;
  notAfter: string;
  algorithm?: string;
  keySize?: string;
}

/** One marker-paged listing: which call, where, which list field, and how to name it in errors. */
interface Listing {
  call: string;
  path: string;
  field: string;
  /** The field that identifies an entry, to catch a listing that serves the same entries again. */
  idField: string;
  where: string;
}

type Entry = Record<string, unknown>;

function applicationsListing(source: IdentityCenterSource): Listing {
  return {
    call: LIST_APPLICATIONS,
    path: `/v1/instances/${encodeURIComponent(source.instanceId)}/application-instances`,
    field: "application_instances",
    idField: "application_instance_id",
    where: `instance ${source.instanceId}`,
  };
}

function certificatesListing(source: IdentityCenterSource, applicationId: string): Listing {
  return {
    call: LIST_CERTIFICATES,
    path: `${applicationsListing(source).path}/${encodeURIComponent(applicationId)}/certificates`,
    field: "application_instance_certificates",
    idField: "certificate_id",
    where: applicationId,
  };
}

function readEntries(body: unknown, listing: Listing, where: string, limit: number): Entry[] {
  const record = (typeof body === "object" && body !== null ? body : {}) as Entry;
  const list = listOf(record, listing.call, listing.field, `${where}: `);
  const field = `${where}: ${listing.field}`;
  if (list.length > limit) {
    throw new MalformedResponseError(
      listing.call,
      field,
      `has ${list.length} entries, more than the limit of ${limit}`,
    );
  }
  list.forEach((entry, index) => {
    if (typeof entry !== "object" || entry === null)
      throw new MalformedResponseError(listing.call, `${field}[${index}]`, "is not an object");
  });
  return list as Entry[];
}

/** `page_info.next_marker`: a non-empty string means more pages; null, absent or empty means the last page. */
function readNextMarker(body: unknown, listing: Listing, where: string): string | undefined {
  const pageInfo = (body as Entry).page_info;
  const next =
    typeof pageInfo === "object" && pageInfo !== null ? (pageInfo as Entry).next_marker : undefined;
  if (next === undefined || next === null || next === "") return undefined;
  if (typeof next !== "string") {
    throw new MalformedResponseError(
      listing.call,
      `${where}: page_info.next_marker`,
      `is ${JSON.stringify(next)}, not a string`,
    );
  }
  return next;
}

/**
 * Pages one marker-paged listing, one page in memory at a time. A next_marker this listing already returned, or
 * a page of entries it already served, means the vendor is going round in circles: the sweep fails, never loops.
 * Without a total, the walk is bounded by `maxPages` pages fetched; an entry served again is told as `unsettled`.
 */
async function* pages(
  client: HuaweiClient,
  listing: Listing,
  rules: WalkRules,
  limit = PAGE_SIZE,
): AsyncGenerator<{ entries: Entry[]; where: string }> {
  const markers = new Set<string>();
  const served = new ServedIds(listing.call, rules.unsettled);
  let marker: string | undefined;
  for (let page = 1; ; page++) {
    const body = await client.get(listing.call, listing.path, marker ? { limit, marker } : { limit });
    const where = page === 1 ? listing.where : `${listing.where} page ${page}`;
    const entries = readEntries(body, listing, where, limit);
    const next = readNextMarker(body, listing, where);
    if (next !== undefined && markers.has(next)) {
      throw new MalformedResponseError(
        listing.call,
        `${where}: page_info.next_marker`,
        `repeats ${JSON.stringify(next)}, a marker this listing already returned; stopped instead of looping`,
      );
    }
    if (next !== undefined && entries.length === 0) {
      // Empty pages that keep promising more would pass every other guard, forever.
      throw new MalformedResponseError(
        listing.call,
        `${where}: ${listing.field}`,
        "is empty but next_marker is set",
      );
    }
    served.add(
      entries.map((entry) => optionalText(entry[listing.idField]) ?? ""),
      `${where}: ${listing.field}`,
    );
    yield { entries, where };
    if (next === undefined) return;
    if (page >= rules.maxPages) {
      throw new SweepLimitError(
        `${listing.call}: ${listing.where}: ${page.toLocaleString("en-US")} pages fetched and next_marker still ` +
          `says there are more, the source's maxPages (raise it if the estate is really that big)`,
      );
    }
    markers.add(next);
    marker = next;
  }
}

async function applicationInstances(
  client: HuaweiClient,
  source: IdentityCenterSource,
  rules: WalkRules,
): Promise<ApplicationInstance[]> {
  if (source.applicationInstanceIds) return source.applicationInstanceIds.map((id) => ({ id }));
  const found: ApplicationInstance[] = [];
  for await (const { entries, where } of pages(client, applicationsListing(source), rules)) {
    entries.forEach((raw, index) => {
      const field = `${where}: application_instances[${index}]`;
      const id = requiredText(
        raw.application_instance_id,
        LIST_APPLICATIONS,
        `${field}.application_instance_id`,
      );
      found.push({ id, name: optionalText(raw.name) });
    });
  }
  return found;
}

function readCertificate(raw: Entry, field: string, warn: (message: string) => void): Certificate {
  const id = requiredText(raw.certificate_id, LIST_CERTIFICATES, `${field}.certificate_id`);
  const notAfter = optionalInstant(raw.expiry_date, LIST_CERTIFICATES, `${field}.expiry_date`);
  if (!notAfter) throw new MalformedResponseError(LIST_CERTIFICATES, `${field}.expiry_date`, "is missing");
  const rawStatus = typeof raw.status === "string" ? raw.status : "";
  let status = STATUS[rawStatus];
  if (!status) {
    warn(
      `${LIST_CERTIFICATES}: ${field}.status of certificate ${id} is ${JSON.stringify(raw.status)}, not ACTIVE or INACTIVE`,
    );
    status = "unknown";
  }
  return {
    id,
    status,
    rawStatus,
    notBefore: optionalInstant(raw.issue_date, LIST_CERTIFICATES, `${field}.issue_date`),
    notAfter,
    algorithm: optionalText(raw.algorithm),
    keySize: optionalText(raw.key_size),
  };
}

/** The rotation case: for an active certificate, the inactive one of the same application expiring last, if later. */
function successorOf(certificate: Certificate, all: Certificate[]): Certificate | undefined {
  if (certificate.status !== "active") return undefined;
  let successor: Certificate | undefined;
  for (const candidate of all) {
    if (candidate.status !== "inactive") continue;
    if (Date.parse(candidate.notAfter) <= Date.parse(certificate.notAfter)) continue;
    if (!successor || Date.parse(candidate.notAfter) > Date.parse(successor.notAfter)) successor = candidate;
  }
  return successor;
}

function toObservation(
  certificate: Certificate,
  successor: Certificate | undefined,
  application: ApplicationInstance,
  source: IdentityCenterSource,
): Observation {
  const nativeId = `${application.id}/${certificate.id}`;
  const details: Record<string, string> = {};
  if (application.name) details.application = application.name;
  if (certificate.algorithm) details.algorithm = certificate.algorithm;
  if (certificate.keySize) details.keySize = certificate.keySize;
  return {
    key: objectKey(source.name, "certificate", nativeId),
    kind: "certificate",
    nativeId,
    name: `${application.name ?? application.id} certificate ${certificate.id}`,
    // SAML signing certificates name no domains.
    domains: [],
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    status: certificate.status,
    rawStatus: certificate.rawStatus,
    successor: successor && {
      nativeId: `${application.id}/${successor.id}`,
      notAfter: successor.notAfter,
    },
    details,
    labels: {
      ...source.labels,
      source: source.name,
      provider: "huawei",
      product: "identity-center",
      application: application.id,
    },
  };
}

/** Every certificate of one application instance; all of them are needed before successors can be told. */
async function collectApplication(
  client: HuaweiClient,
  source: IdentityCenterSource,
  application: ApplicationInstance,
  context: CollectContext,
): Promise<Observation[]> {
  const listing = certificatesListing(source, application.id);
  const certificates: Certificate[] = [];
  for await (const { entries, where } of pages(client, listing, walkRulesOf(source, context))) {
    entries.forEach((raw, index) => {
      certificates.push(readCertificate(raw, `${where}: ${listing.field}[${index}]`, context.warn));
    });
  }
  return certificates.map((certificate) =>
    toObservation(certificate, successorOf(certificate, certificates), application, source),
  );
}

/**
 * Huawei IAM Identity Center: the SAML signing certificates of each application instance (configured, or
 * discovered by `ListApplicationInstances`), listed by marker, several application instances at a time.
 */
export const huaweiIdentityCenter: SourceDriver<"huawei-identity-center"> = {
  type: "huawei-identity-center",

  async *collect(source: IdentityCenterSource, context: CollectContext) {
    const client = new HuaweiClient(source, context);
    const applications = await applicationInstances(client, source, walkRulesOf(source, context));
    for await (const observations of mapInOrder(applications, client.limiter.concurrency, (application) =>
      collectApplication(client, source, application, context),
    )) {
      yield* observations;
    }
  },

  async verify(source: IdentityCenterSource, context: CollectContext) {
    const client = new HuaweiClient(source, context);
    const [first] = source.applicationInstanceIds ?? [];
    const listing = first ? certificatesListing(source, first) : applicationsListing(source);
    await pages(client, listing, walkRulesOf(source, context), 1).next();
    return `credentials accepted; instance ${source.instanceId} reachable`;
  },
};
