import { type HuaweiAuthOptions, huaweiError as error, verifyHuaweiAuth } from "./huawei-auth.js";
import { type FaultOptions, type SimAnswer, type SimRequest, SimServer, TokenBucket } from "./server.js";

/** `distinguished_name`, as both CCM listings return it. */
export interface DistinguishedName {
  common_name: string;
  country: string;
  state: string;
  locality: string;
  organization: string;
  organizational_unit: string;
}

/** A private CA as ListCertificateAuthority returns it (huawei.ccm.ListCertificateAuthority). */
export interface CcmAuthority {
  ca_id: string;
  type: "ROOT" | "SUBORDINATE";
  status: "PENDING" | "ACTIVED" | "DISABLED" | "DELETED" | "EXPIRED";
  path_length: number;
  /** null for a root CA. */
  issuer_id: string | null;
  issuer_name: string | null;
  key_algorithm: string;
  signature_algorithm: string;
  freeze_flag: number;
  gen_mode: "GENERATE" | "IMPORT" | "CSR";
  serial_number: string;
  create_time: number;
  /** null until the CA is scheduled for deletion. */
  delete_time: number | null;
  not_before: number;
  not_after: number;
  distinguished_name: DistinguishedName;
  crl_configuration: {
    enabled: boolean;
    crl_name: string;
    obs_bucket_name: string;
    valid_days: number;
    crl_dis_point: string;
  };
  enterprise_project_id?: string;
}

/** A private certificate as ListCertificate returns it (huawei.ccm.ListCertificate). */
export interface CcmCertificate {
  certificate_id: string;
  status: "ISSUED" | "EXPIRED" | "REVOKED";
  issuer_id: string;
  issuer_name: string;
  key_algorithm: string;
  signature_algorithm: string;
  freeze_flag: number;
  gen_mode: "GENERATE" | "IMPORT" | "CSR";
  serial_number: string;
  create_time: number;
  delete_time: number | null;
  not_before: number;
  not_after: number;
  distinguished_name: DistinguishedName;
  enterprise_project_id?: string;
}

function name(commonName: string): DistinguishedName {
  return {
    common_name: commonName,
    country: "CN",
    state: "Guangdong",
    locality: "Shenzhen",
    organization: "Example Co",
    organizational_unit: "Security",
  };
}

/** A CA with plausible values for every field the listing returns; `issuer` names its parent, none for a root. */
export function ccmAuthority(
  fields: Pick<CcmAuthority, "ca_id" | "status" | "not_after" | "create_time"> & {
    commonName: string;
    issuer?: CcmAuthority;
  },
): CcmAuthority {
  const { issuer, commonName, ...own } = fields;
  return {
    type: issuer ? "SUBORDINATE" : "ROOT",
    path_length: issuer ? 0 : 7,
    issuer_id: issuer?.ca_id ?? null,
    issuer_name: issuer?.distinguished_name.common_name ?? null,
    key_algorithm: "RSA2048",
    signature_algorithm: "SHA256",
    freeze_flag: 0,
    gen_mode: "GENERATE",
    serial_number: own.ca_id.replaceAll("-", "").slice(0, 32),
    delete_time: own.status === "DELETED" ? own.create_time + 86_400_000 : null,
    not_before: own.create_time,
    distinguished_name: name(commonName),
    crl_configuration: {
      enabled: false,
      crl_name: "",
      obs_bucket_name: "",
      valid_days: 7,
      crl_dis_point: "",
    },
    enterprise_project_id: "0",
    ...own,
  };
}

/** A private certificate issued by `issuer`, with plausible values for every field the listing returns. */
export function ccmCertificate(
  fields: Pick<CcmCertificate, "certificate_id" | "status" | "not_after" | "create_time"> & {
    commonName: string;
    issuer: CcmAuthority;
  },
): CcmCertificate {
  const { issuer, commonName, ...own } = fields;
  return {
    issuer_id: issuer.ca_id,
    issuer_name: issuer.distinguished_name.common_name,
    key_algorithm: "EC256",
    signature_algorithm: "SHA256",
    freeze_flag: 0,
    gen_mode: "GENERATE",
    serial_number: own.certificate_id.replaceAll("-", "").slice(0, 32),
    delete_time: null,
    not_before: own.create_time,
    distinguished_name: name(commonName),
    enterprise_project_id: "0",
    ...own,
  };
}

export interface CcmSimulatorOptions extends FaultOptions, HuaweiAuthOptions {
  authorities: CcmAuthority[];
  certificates: CcmCertificate[];
  /** Calls per second per access key before APIGW answers 429 APIGW.0308. */
  qps?: number;
}

const CAS_PATH = "/v1/private-certificate-authorities";
const CERTIFICATES_PATH = "/v1/private-certificates";

// The simulator's own error codes, in Huawei's shape: the contract shows only placeholders (PCA.XXX).
const badRequest = (message: string) => error(400, "PCA.10010002", message);
const throttled = () => error(429, "APIGW.0308", "The throttling threshold has been reached");

/** One listing's filters and sort keys, as the contract declares them. */
interface ListingRules<T> {
  list: string;
  statuses: string[];
  sortKeys: Record<string, (item: T) => string | number>;
  /** Query filters besides status and name, by parameter: the values allowed and the test. */
  filters?: Record<string, { allowed: string[]; test: (item: T, value: string) => boolean }>;
}

const AUTHORITY_RULES: ListingRules<CcmAuthority> = {
  list: "certificate_authorities",
  statuses: ["PENDING", "ACTIVED", "DISABLED", "DELETED", "EXPIRED"],
  sortKeys: {
    create_time: (ca) => ca.create_time,
    common_name: (ca) => ca.distinguished_name.common_name,
    type: (ca) => ca.type,
    not_after: (ca) => ca.not_after,
  },
  filters: { type: { allowed: ["ROOT", "SUBORDINATE"], test: (ca, value) => ca.type === value } },
};

const CERTIFICATE_RULES: ListingRules<CcmCertificate> = {
  list: "certificates",
  statuses: ["ISSUED", "REVOKED", "EXPIRED"],
  sortKeys: {
    create_time: (certificate) => certificate.create_time,
    common_name: (certificate) => certificate.distinguished_name.common_name,
    issuer_name: (certificate) => certificate.issuer_name,
    not_after: (certificate) => certificate.not_after,
  },
};

function whole(query: URLSearchParams, name: string, fallback: number, min: number): number | undefined {
  const value = Number(query.get(name) ?? fallback);
  return Number.isInteger(value) && value >= min ? value : undefined;
}

/**
 * One CCM listing as the contract has it: `limit` (default 10, no documented maximum) and a record `offset`
 * (default 0), `sort_key` default create_time and `sort_dir` default DESC (so what was created last comes first and a
 * creation mid-walk shifts every later offset), the `status` and `name` filters, and `total`.
 */
function list<T extends { status: string; distinguished_name: DistinguishedName }>(
  query: URLSearchParams,
  items: T[],
  rules: ListingRules<T>,
): SimAnswer {
  const limit = whole(query, "limit", 10, 1);
  const offset = whole(query, "offset", 0, 0);
  const sortKey = query.get("sort_key") ?? "create_time";
  const sortDir = query.get("sort_dir") ?? "DESC";
  const status = query.get("status");
  const name = query.get("name");
  if (limit === undefined) return badRequest("limit must be a whole number >= 1");
  if (offset === undefined) return badRequest("offset must be a whole number >= 0");
  const sortValue = rules.sortKeys[sortKey];
  if (!sortValue) return badRequest(`sort_key must be one of ${Object.keys(rules.sortKeys).join(", ")}`);
  if (sortDir !== "ASC" && sortDir !== "DESC") return badRequest("sort_dir must be ASC or DESC");
  if (status !== null && !rules.statuses.includes(status)) return badRequest(`status ${status} is not valid`);
  for (const [parameter, filter] of Object.entries(rules.filters ?? {})) {
    const value = query.get(parameter);
    if (value !== null && !filter.allowed.includes(value))
      return badRequest(`${parameter} ${value} is not valid`);
  }
  const matching = items.filter(
    (item) =>
      (status === null || item.status === status) &&
      (name === null || item.distinguished_name.common_name.includes(name)) &&
      Object.entries(rules.filters ?? {}).every(([parameter, filter]) => {
        const value = query.get(parameter);
        return value === null || filter.test(item, value);
      }),
  );
  const sign = sortDir === "ASC" ? 1 : -1;
  // Array sort is stable: items that tie keep the order CCM holds them in.
  const ordered = [...matching].sort((a, b) => {
    const [x, y] = [sortValue(a), sortValue(b)];
    return x < y ? -sign : x > y ? sign : 0;
  });
  return {
    status: 200,
    body: { total: ordered.length, [rules.list]: ordered.slice(offset, offset + limit) },
  };
}

/**
 * Huawei CCM (private CA) `GET /v1/private-certificate-authorities` and `GET /v1/private-certificates` as
 * vendor-contracts.json has them, with AK/SK or token authentication, X-Domain-Id checked against `domainId`, and
 * the gateway's 429 `APIGW.0308` when over `qps`. `authorities` and `certificates` may be changed between sweeps.
 */
export function ccmSimulator(options: CcmSimulatorOptions): SimServer {
  const bucket = options.qps ? new TokenBucket(options.qps) : undefined;
  const handle = (request: SimRequest): SimAnswer => {
    const { pathname, searchParams } = request.url;
    const routed = request.method === "GET" && (pathname === CAS_PATH || pathname === CERTIFICATES_PATH);
    if (!routed)
      return error(404, "APIGW.0101", "The API does not exist or has not been published in the environment");
    const denied = verifyHuaweiAuth(request, options);
    if (denied) return denied;
    if (bucket && !bucket.take()) return throttled();
    return pathname === CAS_PATH
      ? list(searchParams, options.authorities, AUTHORITY_RULES)
      : list(searchParams, options.certificates, CERTIFICATE_RULES);
  };
  return new SimServer(
    handle,
    (fault) => {
      if (fault === "throttle") return throttled();
      if (fault === "malformed") return { status: 200, body: { total: "many", certificates: "not-a-list" } };
      return error(500, "PCA.10010001", "Internal server error");
    },
    options,
    "huawei.ccm",
  );
}
