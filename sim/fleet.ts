import { seededRandom } from "./server.js";

/**
 * A certificate as Huawei SCM holds it: the fields ListCertificates returns (the simulator fills in `description`
 * and `enterprise_project_id` when left out), and `updatedAt`, which it never serves.
 */
export interface ScmCertificate {
  id: string;
  name: string;
  domain: string;
  sans: string;
  type: string;
  brand: string;
  signature_algorithm: string;
  deploy_support: boolean;
  expire_time: string;
  domain_type: string;
  validity_period: number;
  status: string;
  domain_count: number;
  wildcard_count: number;
  description?: string;
  enterprise_project_id?: string;
  /** When SCM last changed the record (ms epoch): the default listing's order (certUpdateTime), not a field. */
  updatedAt?: number;
}

const DAY_MS = 86_400_000;

/** Formats an instant as SCM does: wall-clock time in the account's zone, no zone marker. */
export function scmTime(instant: Date, offsetMinutes = 480): string {
  const local = new Date(instant.getTime() + offsetMinutes * 60_000).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, 19)}.0`;
}

export interface FleetOptions {
  count: number;
  now: Date;
  seed?: number;
  /** Offset of SCM's wall-clock times, in minutes east of UTC. */
  offsetMinutes?: number;
}

/**
 * A plausible SCM fleet around `now`: most certificates far from expiry, a few inside each threshold, some
 * expired, revoked or not yet issued. Deterministic for a given seed.
 */
export function scmFleet(options: FleetOptions): ScmCertificate[] {
  const random = seededRandom(options.seed ?? 42);
  const brands = ["GLOBALSIGN", "GEOTRUST", "SYMANTEC", "CFCA"];
  const types = ["DV_SSL_CERT", "OV_SSL_CERT", "EV_SSL_CERT"];
  return Array.from({ length: options.count }, (_, index) => {
    const n = String(index + 1).padStart(5, "0");
    const roll = random();
    let days: number;
    let status = "ISSUED";
    if (roll < 0.04) days = -1 - random() * 60;
    else if (roll < 0.07) days = random();
    else if (roll < 0.12) days = 1 + random() * 6;
    else if (roll < 0.17) days = 7 + random() * 7;
    else if (roll < 0.24) days = 14 + random() * 16;
    else days = 31 + random() * 365;
    if (roll >= 0.24 && roll < 0.26) status = "REVOKED";
    else if (roll >= 0.26 && roll < 0.29) status = "CHECKING";
    else if (days < 0 && random() < 0.5) status = "EXPIRED";
    else if (random() < 0.1) status = "UPLOAD";
    const wildcard = random() < 0.15;
    const domain = wildcard ? `*.svc-${n}.example.com` : `svc-${n}.example.com`;
    const sans = random() < 0.4 ? [`api-${n}.example.com`, `www-${n}.example.com`] : [];
    const notAfter = options.now.getTime() + days * DAY_MS;
    return {
      id: `scs${String(1_700_000_000_000 + index * 7919).slice(0, 13)}`,
      name: `cert-${n}`,
      domain,
      sans: sans.join(";"),
      type: types[index % types.length] as string,
      brand: brands[index % brands.length] as string,
      signature_algorithm: "SHA256WITHRSA",
      deploy_support: true,
      expire_time: status === "CHECKING" ? "" : scmTime(new Date(notAfter), options.offsetMinutes),
      domain_type: sans.length > 0 ? "MULTI_DOMAIN" : wildcard ? "WILDCARD" : "SINGLE_DOMAIN",
      validity_period: 12,
      status,
      domain_count: 1 + sans.length,
      wildcard_count: wildcard ? 1 : 0,
      // Last changed when issued, a year before expiry; an application under review, minutes apart up to now.
      updatedAt: status === "CHECKING" ? options.now.getTime() - index * 60_000 : notAfter - 365 * DAY_MS,
    };
  });
}
