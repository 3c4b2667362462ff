import type { SourceConfig } from "../../config/schema.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import { domainList, optionalInstant, optionalText, requiredInstant, requiredText } from "../fields.js";
import { listOf, numberedPages, totalOf } from "../paging.js";
import { walkRulesOf } from "../scope.js";
import type { CollectContext, SourceDriver } from "../types.js";
import { HuaweiClient } from "./client.js";

type Source = Extract<SourceConfig, { type: "huawei-private-ca" }>;

const LIST_CAS = "ListCertificateAuthority";
const CAS_PATH = "/v1/private-certificate-authorities";
const LIST_CERTIFICATES = "ListCertificate";
const CERTIFICATES_PATH = "/v1/private-certificates";

/** The page asked for: the contract states only a default (10) and no maximum; a smaller cap fails the walk. */
const PAGE_SIZE = 50;

/**
 * The order certwatch lists in. Both listings default to create_time DESC, which puts a CA or certificate created
 * during the walk at the front and shifts every later offset; ascending, it lands at the end. What still moves (a
 * deletion) is caught by the completeness checks.
 */
const ORDER = { sort_key: "create_time", sort_dir: "ASC" };

/** CA `status`, the contract's enum. A disabled CA issues nothing new; one DELETED is only scheduled for deletion. */
const CA_STATUSES: Record<string, Status> = {
  PENDING: "pending",
  ACTIVED: "active",
  DISABLED: "inactive",
  DELETED: "inactive",
  EXPIRED: "expired",
};

/** Private certificate `status`, the contract's enum. */
const CERTIFICATE_STATUSES: Record<string, Status> = {
  ISSUED: "active",
  EXPIRED: "expired",
  REVOKED: "revoked",
};

/** CA `type`, the contract's enum. */
const CA_TYPES: Record<string, string> = { ROOT: "root", SUBORDINATE: "subordinate" };

/** A CA as listed, before its dependents are known. */
interface Authority {
  observation: Observation;
  issuerId?: string;
}

interface Listing {
  call: string;
  path: string;
  list: string;
  idField: string;
}

const CA_LISTING: Listing = {
  call: LIST_CAS,
  path: CAS_PATH,
  list: "certificate_authorities",
  idField: "ca_id",
};
const CERTIFICATE_LISTING: Listing = {
  call: LIST_CERTIFICATES,
  path: CERTIFICATES_PATH,
  list: "certificates",
  idField: "certificate_id",
};

/** Every page of one listing by record offset, checked as `numberedPages` checks every listing. */
function walk(
  client: HuaweiClient,
  source: Source,
  context: CollectContext,
  listing: Listing,
): AsyncGenerator<Record<string, unknown>[]> {
  return numberedPages({
    ...walkRulesOf(source, context),
    call: listing.call,
    pageSize: PAGE_SIZE,
    concurrency: client.limiter.concurrency,
    idOf: (raw: Record<string, unknown>) => String(raw[listing.idField]),
    onTotal: context.total,
    fetch: async (page) => {
      const offset = (page - 1) * PAGE_SIZE;
      const body =
        (await client.get(listing.call, listing.path, { ...ORDER, limit: PAGE_SIZE, offset })) ?? {};
      return readPage(body as Record<string, unknown>, listing, offset);
    },
  });
}

function readPage(body: Record<string, unknown>, listing: Listing, offset: number) {
  const where = `offset=${offset}: `;
  return {
    total: totalOf(body, listing.call, "total", where),
    items: listOf(body, listing.call, listing.list, where) as Record<string, unknown>[],
  };
}

/** The status by the contract's enum; an undocumented one is told and watched as unknown. */
function statusOf(
  statuses: Record<string, Status>,
  raw: Record<string, unknown>,
  what: string,
  context: { call: string; where: string; warn: (message: string) => void },
): { status: Status; rawStatus: string } {
  const rawStatus = optionalText(raw.status) ?? "";
  const status = statuses[rawStatus];
  if (status) return { status, rawStatus };
  context.warn(
    `${context.call}: ${context.where}.status of ${what} is ${JSON.stringify(raw.status)}, not one of ${Object.keys(statuses).join(", ")}`,
  );
  return { status: "unknown", rawStatus };
}

function labelsOf(source: Source): Observation["labels"] {
  return { ...source.labels, source: source.name, provider: "huawei", product: "ccm", region: source.region };
}

function commonNameOf(raw: Record<string, unknown>): string | undefined {
  const name = raw.distinguished_name;
  return typeof name === "object" && name !== null
    ? optionalText((name as Record<string, unknown>).common_name)
    : undefined;
}

function readAuthority(
  source: Source,
  raw: Record<string, unknown>,
  where: string,
  warn: (message: string) => void,
): Authority {
  const id = requiredText(raw.ca_id, LIST_CAS, `${where}.ca_id`);
  const { status, rawStatus } = statusOf(CA_STATUSES, raw, `CA ${id}`, { call: LIST_CAS, where, warn });
  // issuer_id is null for a root CA.
  const issuerId = optionalText(raw.issuer_id);
  let caType = CA_TYPES[optionalText(raw.type) ?? ""];
  if (!caType) {
    warn(
      `${LIST_CAS}: ${where}.type of CA ${id} is ${JSON.stringify(raw.type)}, not ROOT or SUBORDINATE; taken from issuer_id`,
    );
    caType = issuerId ? "subordinate" : "root";
  }
  const serial = optionalText(raw.serial_number)?.toLowerCase();
  // A CA not yet activated has no certificate, so no validity.
  const notAfter =
    status === "pending"
      ? optionalInstant(raw.not_after, LIST_CAS, `${where}.not_after`)
      : requiredInstant(raw.not_after, LIST_CAS, `${where}.not_after`);
  return {
    issuerId,
    observation: {
      key: objectKey(source.name, "certificate-authority", id),
      kind: "certificate-authority",
      nativeId: id,
      name: commonNameOf(raw) ?? id,
      domains: [],
      notBefore: optionalInstant(raw.not_before, LIST_CAS, `${where}.not_before`),
      notAfter,
      status,
      rawStatus,
      details: {
        caType,
        // `issuer` is the CA's id, as everywhere (the store's issuer index reads it); its name is for people.
        ...(issuerId ? { issuer: issuerId, issuerName: optionalText(raw.issuer_name) ?? issuerId } : {}),
        ...(serial ? { serial } : {}),
      },
      labels: labelsOf(source),
    },
  };
}

function readCertificate(
  source: Source,
  raw: Record<string, unknown>,
  where: string,
  warn: (message: string) => void,
): Observation {
  const id = requiredText(raw.certificate_id, LIST_CERTIFICATES, `${where}.certificate_id`);
  const { status, rawStatus } = statusOf(CERTIFICATE_STATUSES, raw, `private certificate ${id}`, {
    call: LIST_CERTIFICATES,
    where,
    warn,
  });
  const issuerId = requiredText(raw.issuer_id, LIST_CERTIFICATES, `${where}.issuer_id`);
  const serial = optionalText(raw.serial_number)?.toLowerCase();
  const commonName = commonNameOf(raw);
  return {
    // The kind Alibaba's private-CA certificates have too: issued by a private CA, for clients or servers.
    key: objectKey(source.name, "client-certificate", id),
    kind: "client-certificate",
    nativeId: id,
    name: commonName ?? id,
    domains: domainList(commonName),
    notBefore: optionalInstant(raw.not_before, LIST_CERTIFICATES, `${where}.not_before`),
    notAfter: requiredInstant(raw.not_after, LIST_CERTIFICATES, `${where}.not_after`),
    status,
    rawStatus,
    details: {
      issuer: issuerId,
      issuerName: optionalText(raw.issuer_name) ?? issuerId,
      ...(serial ? { serial } : {}),
    },
    labels: labelsOf(source),
  };
}

/** What still chains to a CA: a certificate in force (issued), or a CA that has not expired or been deleted. */
const IN_FORCE_CA = new Set(["ACTIVED", "DISABLED"]);

/**
 * Every known certificate that fails when a CA does: the certificates it issued, the subordinate CAs it issued,
 * and everything below those. Ids are counted once, so a listing that loops (an issuer_id pointing back) ends.
 */
function dependentsOf(
  id: string,
  issued: ReadonlyMap<string, number>,
  children: ReadonlyMap<string, string[]>,
  visited = new Set<string>([id]),
): number {
  let count = issued.get(id) ?? 0;
  for (const child of children.get(id) ?? []) {
    if (visited.has(child)) continue;
    visited.add(child);
    count += 1 + dependentsOf(child, issued, children, visited);
  }
  return count;
}

/**
 * Huawei CCM: the private CAs (`ListCertificateAuthority`) and the private certificates they issued
 * (`ListCertificate`), each an observation. The CAs are held (an estate has few) while the certificates stream
 * past, counted by issuer; each CA is then yielded with `dependents`, everything that chains to it.
 */
export const huaweiPrivateCa: SourceDriver<"huawei-private-ca"> = {
  type: "huawei-private-ca",

  async *collect(source, context) {
    const client = new HuaweiClient(source, context);
    const authorities: Authority[] = [];
    let offset = 0;
    for await (const page of walk(client, source, context, CA_LISTING)) {
      const where = `offset=${offset}: certificate_authorities`;
      offset += PAGE_SIZE;
      page.forEach((raw, index) =>
        authorities.push(readAuthority(source, raw, `${where}[${index}]`, context.warn)),
      );
    }

    const issued = new Map<string, number>();
    offset = 0;
    for await (const page of walk(client, source, context, CERTIFICATE_LISTING)) {
      const where = `offset=${offset}: certificates`;
      offset += PAGE_SIZE;
      yield* page.map((raw, index) => {
        const certificate = readCertificate(source, raw, `${where}[${index}]`, context.warn);
        const issuerId = certificate.details?.issuer as string;
        if (certificate.status === "active") issued.set(issuerId, (issued.get(issuerId) ?? 0) + 1);
        return certificate;
      });
    }

    const children = new Map<string, string[]>();
    for (const { observation, issuerId } of authorities) {
      if (!issuerId || !IN_FORCE_CA.has(observation.rawStatus)) continue;
      children.set(issuerId, [...(children.get(issuerId) ?? []), observation.nativeId]);
    }
    for (const { observation } of authorities) {
      const dependents = dependentsOf(observation.nativeId, issued, children);
      yield { ...observation, details: { ...observation.details, dependents: String(dependents) } };
    }
  },

  async verify(source, context) {
    const client = new HuaweiClient(source, context);
    const body = (await client.get(LIST_CAS, CAS_PATH, { ...ORDER, limit: 1, offset: 0 })) ?? {};
    const { total } = readPage(body as Record<string, unknown>, CA_LISTING, 0);
    return `credentials accepted; ${total} private CAs visible`;
  },
};
