import { seededRandom } from "./server.js";

const DAY_MS = 86_400_000;

/** A private-CA certificate as ListClientCertificate returns it, plus what DescribeClientCertificateStatus says. */
export interface ClientCertificateRecord {
  Identifier: string;
  SerialNumber: string;
  CommonName: string;
  /** A JSON array of `{"Type", "Value"}` in a string (1 email, 2 DNS, 6 URI, 7 IP); "" when there are none. */
  Sans: string;
  BeforeDate: number;
  AfterDate: number;
  /** ISSUE or REVOKE. */
  Status: string;
  CertificateType: "CLIENT" | "SERVER";
  Algorithm: string;
  KeySize: number;
  ParentIdentifier: string;
  /** The certificate's PEM; the fleet leaves it out, tests set one for the content checks to read. */
  X509Certificate?: string;
  /** Served only by DescribeClientCertificateStatus. */
  revocation: { Status: "good" | "revoked" | "unknown"; RevokeTime?: number | string };
}

export interface WorkerRecord {
  Id: number;
  JobId: number;
  GmtCreate: string;
  GmtModified: string;
  UserId: number;
  CertId: number;
  CertDomain: string;
  CertInstanceId: string;
  CertName: string;
  ResourceId: number;
  CloudProduct: string;
  ResourceDomain: string;
  RegionId: string;
  InstanceId?: string;
  ListenerId?: string;
  Port?: number;
  /** Only for other clouds' resources (CAS leaves it out for Alibaba Cloud's own). */
  CloudName?: string;
  CloudRegion?: string;
  Status: string;
}

export interface DeploymentJobRecord {
  Id: number;
  Name: string;
  JobType: string;
  Status: string;
  CertDomain: string;
  ProductName: string;
  UserId: number;
  GmtCreate: string;
  GmtModified: string;
  workers: WorkerRecord[];
}

/**
 * An SSL certificate in CAS, as the vendor holds it. The simulator shows it through two listings: `ListCertificates`
 * and `ListUserCertificateOrder` (CERT rows), each in its own shape.
 */
export interface SslCertificateRecord {
  CertificateId: number;
  InstanceId: string;
  Name: string;
  CommonName: string;
  /** DNS names, the common name first. */
  Sans: string[];
  Issuer: string;
  Serial: string;
  /** SHA-1 of the certificate, upper-case hex. */
  Fingerprint: string;
  NotBefore: number;
  NotAfter: number;
  Source: "BUY" | "TEST" | "UPLOAD";
  Revoked: boolean;
  UsingProductList: string[];
}

/** Days from now a certificate in the fleet expires: mostly far, some inside each threshold, some past. */
function expiryDays(random: () => number): number {
  const roll = random();
  if (roll < 0.05) return -1 - random() * 30;
  if (roll < 0.1) return random() * 7;
  if (roll < 0.2) return 7 + random() * 23;
  return 31 + random() * 700;
}

/** CAS mixes seconds and milliseconds in its numeric-string times, against its own documentation. */
function casTime(instant: number, random: () => number): string {
  return random() < 0.5 ? String(Math.floor(instant / 1000)) : String(instant);
}

/** The SANs CAS serves, in its JSON form; a few, as in the vendor's own example, with a trailing comma. */
function clientSans(n: string, random: () => number): string {
  const roll = random();
  if (roll < 0.5) return "";
  const names = [{ Type: 2, Value: `device-${n}.backup.example.com` }];
  if (roll < 0.65) names.push({ Type: 7, Value: `10.0.${Number(n) % 250}.${Number(n) % 200}` });
  if (roll < 0.75) names.push({ Type: 1, Value: `ops+device-${n}@example.com` });
  if (roll < 0.8) names.push({ Type: 6, Value: `spiffe://example.com/device/${n}` });
  const json = JSON.stringify(names);
  return roll < 0.55 ? `${json.slice(0, -1)}, ]` : json;
}

export function clientCertificateFleet(options: {
  count: number;
  now: Date;
  seed?: number;
}): ClientCertificateRecord[] {
  const random = seededRandom(options.seed ?? 11);
  return Array.from({ length: options.count }, (_, index) => {
    const n = String(index + 1).padStart(5, "0");
    const days = expiryDays(random);
    const revoked = random() < 0.04;
    // The vendor's page shows `2021-01-01T00:00Z`; its schema says integer. Serve both.
    const revokedAt = options.now.getTime() - Math.floor(random() * 30) * DAY_MS;
    const revokeTime =
      index % 2 === 0 ? Math.floor(revokedAt / 1000) : new Date(revokedAt).toISOString().slice(0, 16) + "Z";
    return {
      Identifier: `client-${n}-${(index * 2654435761).toString(16).padStart(8, "0").slice(-8)}`,
      SerialNumber: `5e${(index * 40503 + 7).toString(16).padStart(30, "0")}`,
      CommonName: `device-${n}.iot.example.com`,
      Sans: clientSans(n, random),
      BeforeDate: options.now.getTime() - 300 * DAY_MS,
      AfterDate: Math.floor(options.now.getTime() + days * DAY_MS),
      Status: revoked ? "REVOKE" : "ISSUE",
      CertificateType: index % 10 === 0 ? "SERVER" : "CLIENT",
      Algorithm: "RSA",
      KeySize: 2048,
      ParentIdentifier: "sub-ca-0001",
      // RevokeTime is returned only for a revoked certificate (DescribeClientCertificateStatus).
      revocation: revoked ? { Status: "revoked", RevokeTime: revokeTime } : { Status: "good" },
    };
  });
}

const PRODUCTS = ["SLB", "ALB", "CDN", "NLB", "WAF", "OSS"];

/** Every fifth job deploys to another cloud's CDN: a `cloud` job, whose workers carry CloudName. */
function isOtherCloudJob(jobIndex: number): boolean {
  return jobIndex % 5 === 4;
}

export function deploymentFleet(options: {
  jobs: number;
  workersPerJob: number;
  now: Date;
  seed?: number;
}): DeploymentJobRecord[] {
  const random = seededRandom(options.seed ?? 13);
  const now = options.now.getTime();
  let workerId = 20_000;
  return Array.from({ length: options.jobs }, (_, jobIndex) => {
    const jobId = 8_000 + jobIndex;
    const created = now - (2 + random() * 30) * DAY_MS;
    const workers = Array.from({ length: options.workersPerJob }, (_, index): WorkerRecord => {
      const roll = random();
      let status = "success";
      let modified = created + random() * DAY_MS;
      if (roll < 0.04) status = "error";
      else if (roll < 0.06) status = "rollback_error";
      else if (roll < 0.08) status = "rollback";
      else if (roll < 0.1) {
        status = "processing";
        modified = now - (0.5 + random() * 20) * 3_600_000;
      }
      const otherCloud = isOtherCloudJob(jobIndex);
      const product = otherCloud ? "TencentCDN" : (PRODUCTS[(jobIndex + index) % PRODUCTS.length] as string);
      const balancer = ["SLB", "ALB", "NLB"].includes(product);
      return {
        Id: workerId++,
        JobId: jobId,
        GmtCreate: casTime(created, random),
        GmtModified: casTime(Math.floor(modified), random),
        UserId: 1666884372152785,
        CertId: 12_000_000 + jobIndex,
        CertDomain: `shop-${jobIndex}.example.com`,
        CertInstanceId: `cas-cert-${jobIndex}`,
        CertName: `shop-${jobIndex}-2026`,
        // Each job deploys to its own resources: a later success on a resource fixes an earlier failure there.
        ResourceId: 1_286_000 + jobIndex * options.workersPerJob + index,
        CloudProduct: product,
        ResourceDomain: `shop-${jobIndex}.example.com`,
        RegionId: index % 2 === 0 ? "cn-hangzhou" : "ap-southeast-1",
        ...(otherCloud ? { CloudName: "Tencent", CloudRegion: "ap-guangzhou" } : {}),
        ...(balancer
          ? { InstanceId: `lb-${jobIndex}-${index}`, ListenerId: `lsn-${index}@443`, Port: 443 }
          : {}),
        Status: status,
      };
    });
    const statuses = new Set(workers.map((w) => w.Status));
    const status = statuses.has("processing")
      ? "processing"
      : statuses.has("error") || statuses.has("rollback_error")
        ? "error"
        : "success";
    const modified = Math.max(
      ...workers.map((w) => Number(w.GmtModified) * (w.GmtModified.length <= 10 ? 1000 : 1)),
    );
    return {
      Id: jobId,
      Name: `renew shop-${jobIndex}`,
      JobType: isOtherCloudJob(jobIndex) ? "cloud" : "user",
      Status: status,
      CertDomain: `shop-${jobIndex}.example.com`,
      ProductName: workers[0]?.CloudProduct ?? "SLB",
      UserId: 1666884372152785,
      GmtCreate: casTime(created, random),
      GmtModified: String(modified),
      workers,
    };
  });
}

/** SSL certificates around `now`: bought, test and uploaded; a few expired, inside each threshold, or revoked. */
export function sslCertificateFleet(options: {
  count: number;
  now: Date;
  seed?: number;
}): SslCertificateRecord[] {
  const random = seededRandom(options.seed ?? 17);
  return Array.from({ length: options.count }, (_, index) => {
    const n = String(index + 1).padStart(5, "0");
    const days = expiryDays(random);
    const notAfter = Math.floor(options.now.getTime() + days * DAY_MS);
    const sourceRoll = random();
    const hex = (length: number) =>
      Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join("");
    return {
      CertificateId: 14_000_000 + index,
      InstanceId: `cas-cn-${n}`,
      Name: `web-${n}`,
      CommonName: `www-${n}.example.cn`,
      Sans: random() < 0.3 ? [`www-${n}.example.cn`, `m-${n}.example.cn`] : [`www-${n}.example.cn`],
      Issuer: "DigiCert",
      Serial: hex(32),
      Fingerprint: hex(40).toUpperCase(),
      NotBefore: notAfter - 365 * DAY_MS,
      NotAfter: notAfter,
      Source: sourceRoll < 0.2 ? "UPLOAD" : sourceRoll < 0.25 ? "TEST" : "BUY",
      Revoked: random() < 0.03,
      UsingProductList: random() < 0.5 ? ["SLB", "CDN"] : [],
    };
  });
}
