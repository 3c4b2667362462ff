import type { SourceConfig } from "../../config/schema.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import { mapInOrder } from "../concurrency.js";
import { optionalInstant, optionalText, requiredText } from "../fields.js";
import { MalformedResponseError } from "../http.js";
import { type MarkerPage, markerPages, type MarkerPagesOptions, type WalkRules } from "../paging.js";
import { pemDetails, readPem } from "../pem-facts.js";
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
  /** What the content checks need of the `certificate` PEM, read as the page is: the PEM itself is not kept. */
  pemDetails?: Record<string, string>;
}

/** One marker-paged listing: which call, where, which list field, how to read an entry and name it in errors. */
interface Listing<T> extends Pick<MarkerPagesOptions<T>, "call" | "field" | "where" | "read" | "idOf"> {
  path: string;
}

type Entry = Record<string, unknown>;

function applicationsListing(source: IdentityCenterSource): Listing<ApplicationInstance> {
  return {
    call: LIST_APPLICATIONS,
    path: `/v1/instances/${encodeURIComponent(source.instanceId)}/application-instances`,
    field: "application_instances",
    where: `instance ${source.instanceId}`,
    read: (raw, field) => ({
      id: requiredText(raw.application_instance_id, LIST_APPLICATIONS, `${field}.application_instance_id`),
      name: optionalText(raw.name),
    }),
    idOf: (application) => application.id,
  };
}

function certificatesListing(
  source: IdentityCenterSource,
  applicationId: string,
  warn: (message: string) => void,
): Listing<Certificate> {
  return {
    call: LIST_CERTIFICATES,
    path: `${applicationsListing(source).path}/${encodeURIComponent(applicationId)}/certificates`,
    field: "application_instance_certificates",
    where: applicationId,
    read: (raw, field) => readCertificate(raw, field, warn),
    idOf: (certificate) => certificate.id,
  };
}

/** Pages one listing (markerPages), one page in memory at a time, bounded by the source's `maxPages`. */
function pages<T>(
  client: HuaweiClient,
  listing: Listing<T>,
  rules: WalkRules,
  limit = PAGE_SIZE,
): AsyncGenerator<MarkerPage<T>> {
  return markerPages({
    ...rules,
    ...listing,
    limit,
    fetch: (query) => client.get(listing.call, listing.path, query),
  });
}

async function applicationInstances(
  client: HuaweiClient,
  source: IdentityCenterSource,
  rules: WalkRules,
): Promise<ApplicationInstance[]> {
  if (source.applicationInstanceIds) return source.applicationInstanceIds.map((id) => ({ id }));
  const found: ApplicationInstance[] = [];
  for await (const { items } of pages(client, applicationsListing(source), rules)) found.push(...items);
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
  const pem = optionalText(raw.certificate);
  const facts = pem && readPem(pem, `${LIST_CERTIFICATES}: ${field}.certificate of certificate ${id}`, warn);
  return {
    id,
    status,
    rawStatus,
    notBefore: optionalInstant(raw.issue_date, LIST_CERTIFICATES, `${field}.issue_date`),
    notAfter,
    algorithm: optionalText(raw.algorithm),
    keySize: optionalText(raw.key_size),
    // SAML signing certificates name no domains: there is nothing to compare their SANs with.
    ...(facts ? { pemDetails: pemDetails(facts, []) } : {}),
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
  Object.assign(details, certificate.pemDetails);
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
  const listing = certificatesListing(source, application.id, context.warn);
  const certificates: Certificate[] = [];
  for await (const { items } of pages(client, listing, walkRulesOf(source, context)))
    certificates.push(...items);
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
    const rules = walkRulesOf(source, context);
    await (
      first
        ? pages(client, certificatesListing(source, first, context.warn), rules, 1)
        : pages(client, applicationsListing(source), rules, 1)
    ).next();
    return `credentials accepted; instance ${source.instanceId} reachable`;
  },
};
