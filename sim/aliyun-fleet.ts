import { seededRandom } from "./server.js";

const DAY_MS = 86_400_000;

/** A private-CA certificate as ListClientCertificate returns it, plus what DescribeClientCertificateStatus says. */
export interface ClientCertificateRecord {
  Identifier: string;
  SerialNumber: string;
  CommonName: string;
  Sans: string;
  BeforeDate: number;
  AfterDate: number;
  Status: string;
  ParentIdentifier: string;
  /** Served only by DescribeClientCertificateStatus. */
  revocation: { Status: "good" | "revoked"; RevokeTime: number | string };
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

export interface SslOrderRecord {
  CertificateId: number;
  InstanceId: string;
  Name: string;
  CommonName: string;
  Domain: string;
  Sans: string;
  Issuer: string;
  Status: string;
  Expired: boolean;
  Upload: boolean;
  StartDate?: string;
  EndDate?: string;
  CertStartTime?: number;
  CertEndTime?: number;
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
      Sans: random() < 0.3 ? `device-${n}.backup.example.com` : "",
      BeforeDate: options.now.getTime() - 300 * DAY_MS,
      AfterDate: Math.floor(options.now.getTime() + days * DAY_MS),
      Status: "ISSUE",
      ParentIdentifier: "sub-ca-0001",
      revocation: revoked ? { Status: "revoked", RevokeTime: revokeTime } : { Status: "good", RevokeTime: 0 },
    };
  });
}

const PRODUCTS = ["SLB", "ALB", "CDN", "NLB", "WAF", "OSS"];

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
      const product = PRODUCTS[(jobIndex + index) % PRODUCTS.length] as string;
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
      JobType: "user",
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

export function sslOrderFleet(options: { count: number; now: Date; seed?: number }): SslOrderRecord[] {
  const random = seededRandom(options.seed ?? 17);
  return Array.from({ length: options.count }, (_, index) => {
    const n = String(index + 1).padStart(5, "0");
    const days = expiryDays(random);
    const pending = random() < 0.05;
    const end = Math.floor(options.now.getTime() + days * DAY_MS);
    const start = end - 365 * DAY_MS;
    return {
      CertificateId: 14_000_000 + index,
      InstanceId: `cas-cn-${n}`,
      Name: `web-${n}`,
      CommonName: `www-${n}.example.cn`,
      Domain: `www-${n}.example.cn`,
      Sans: random() < 0.3 ? `www-${n}.example.cn,m-${n}.example.cn` : `www-${n}.example.cn`,
      Issuer: "DigiCert",
      Status: pending ? "CHECKING" : days < 0 ? "EXPIRED" : days < 30 ? "WILLEXPIRED" : "ISSUED",
      Expired: !pending && days < 0,
      Upload: random() < 0.2,
      ...(pending
        ? {}
        : {
            StartDate: new Date(start).toISOString().slice(0, 10),
            EndDate: new Date(end).toISOString().slice(0, 10),
            CertStartTime: start,
            CertEndTime: end,
          }),
    };
  });
}
