/**
 * The soak's clouds: five sources on three simulators, and the real changes the soak makes to their inventories
 * (renewals, objects taken away and put back, certificates deleted and added while SCM is being paged). It knows
 * every object by the name certwatch shows it under and by its key, so that what receivers get can be checked
 * against what really happened.
 */
import { CasSimulator } from "../../sim/aliyun-cas.js";
import {
  clientCertificateFleet,
  deploymentFleet,
  type DeploymentJobRecord,
  sslCertificateFleet,
  type WorkerRecord,
} from "../../sim/aliyun-fleet.js";
import { type ScmCertificate, scmFleet, scmTime } from "../../sim/fleet.js";
import {
  type IdentityCenterFleet,
  type IdentityCenterSim,
  identityCenterFleet,
  identityCenterSimulator,
} from "../../sim/huawei-identity-center.js";
import { type ScmSim, scmSimulator } from "../../sim/huawei-scm.js";
import { observeExchanges } from "../../sim/server.js";

export const SOURCES = {
  scm: "hw-scm",
  sso: "hw-sso",
  ssl: "ali-ssl",
  pki: "ali-pki",
  deploy: "ali-deploy",
} as const;
export type SourceName = (typeof SOURCES)[keyof typeof SOURCES];

/** Sources whose API can look one object up, so that one look-up confirms a missing object gone. */
export const LOOK_UP_SOURCES: ReadonlySet<SourceName> = new Set([SOURCES.scm, SOURCES.pki]);

const DAY_MS = 86_400_000;

/** One object certwatch reports, and the fleet entry it comes from (a deployment job holds several workers). */
export interface WorldObject {
  name: string;
  key: string;
  source: SourceName;
  record: object;
  /** The fleet array holding `record`: where it is taken from and put back. */
  container: object[];
}

export interface WorldOptions {
  seed: number;
  start: Date;
  huawei: { accessKey: string; secretKey: string };
  aliyun: { accessKey: string; secretKey: string };
}

/** As lib/sources/aliyun/deployment-jobs.ts names a worker: certificate, product, resource, listener, port. */
function workerName(worker: WorkerRecord): string {
  const resource = [
    worker.InstanceId ?? String(worker.ResourceId),
    worker.ListenerId ? `listener ${worker.ListenerId}` : undefined,
    worker.Port ? `port ${worker.Port}` : undefined,
  ]
    .filter(Boolean)
    .join(" ");
  return `${worker.CertName} on ${worker.CloudProduct} ${resource}`;
}

export class World {
  readonly scmCertificates: ScmCertificate[];
  readonly identityCenter: IdentityCenterFleet;
  readonly deploymentJobs: DeploymentJobRecord[];
  readonly scm: ScmSim;
  readonly ic: IdentityCenterSim;
  readonly cas: CasSimulator;
  readonly byName = new Map<string, WorldObject>();
  private churned = 0;

  constructor(options: WorldOptions) {
    const { seed, start } = options;
    // Five SCM pages of 50: a walk by offset has pages after the first to step over. Made as of ten days before the
    // soak starts, so that more than the first page is inside 30 days: a certificate stepped over is an alerting one.
    this.scmCertificates = scmFleet({
      count: 250,
      now: new Date(start.getTime() - 10 * DAY_MS),
      seed: seed + 41,
    });
    this.identityCenter = identityCenterFleet({
      applications: 10,
      certificatesPerApplication: 3,
      now: start,
      seed: seed + 23,
    });
    this.deploymentJobs = deploymentFleet({ jobs: 10, workersPerJob: 4, now: start, seed: seed + 13 });
    const sslCertificates = sslCertificateFleet({ count: 120, now: start, seed: seed + 17 });
    const clientCertificates = clientCertificateFleet({ count: 60, now: start, seed: seed + 11 });
    this.cas = new CasSimulator({
      credentials: options.aliyun,
      qps: 10,
      sslCertificates,
      clientCertificates,
      deploymentJobs: this.deploymentJobs,
      now: start,
    });
    // Every cloud takes the run's instant for now, as the runs' --now moves it.
    this.scm = scmSimulator({
      certificates: this.scmCertificates,
      credentials: options.huawei,
      qps: 20,
      clock: () => this.now.getTime(),
    });
    this.ic = identityCenterSimulator({ fleet: this.identityCenter, credentials: options.huawei, qps: 20 });

    for (const certificate of this.scmCertificates) this.addScmObject(certificate);
    for (const application of this.identityCenter.applications) {
      for (const certificate of application.certificates) {
        this.add({
          name: `${application.name} certificate ${certificate.certificate_id}`,
          key: `${SOURCES.sso}/certificate/${application.application_instance_id}/${certificate.certificate_id}`,
          source: SOURCES.sso,
          record: certificate,
          container: application.certificates,
        });
      }
    }
    for (const certificate of sslCertificates) {
      this.add({
        name: certificate.Name,
        key: `${SOURCES.ssl}/certificate/${certificate.CertificateId}`,
        source: SOURCES.ssl,
        record: certificate,
        container: sslCertificates,
      });
    }
    for (const certificate of clientCertificates) {
      this.add({
        name: certificate.CommonName,
        key: `${SOURCES.pki}/client-certificate/${certificate.Identifier}`,
        source: SOURCES.pki,
        record: certificate,
        container: clientCertificates,
      });
    }
    for (const job of this.deploymentJobs) {
      for (const worker of job.workers) {
        this.add({
          name: workerName(worker),
          key: `${SOURCES.deploy}/deployment-task/${job.Id}/${worker.Id}`,
          source: SOURCES.deploy,
          record: job,
          container: this.deploymentJobs,
        });
      }
    }
  }

  get now(): Date {
    return this.cas.now ?? new Date(0);
  }

  set now(instant: Date) {
    this.cas.now = instant;
  }

  private add(object: WorldObject): void {
    if (this.byName.has(object.name)) throw new Error(`two objects are named ${object.name}`);
    this.byName.set(object.name, object);
  }

  private addScmObject(certificate: ScmCertificate): void {
    this.add({
      name: certificate.name,
      key: `${SOURCES.scm}/certificate/${certificate.id}`,
      source: SOURCES.scm,
      record: certificate,
      container: this.scmCertificates,
    });
  }

  async listen(): Promise<{ scm: string; ic: string; cas: string }> {
    const [scm, ic, cas] = await Promise.all([this.scm.listen(), this.ic.listen(), this.cas.listen()]);
    return { scm, ic, cas };
  }

  async close(): Promise<void> {
    await Promise.all([this.scm.close(), this.ic.close(), this.cas.close()]);
  }

  /** Whether the object's fleet entry is in its fleet now. */
  isListed(object: WorldObject): boolean {
    return object.container.includes(object.record);
  }

  /** Every object that one fleet entry makes: a certificate, or each worker of a deployment job. */
  objectsOf(record: object): WorldObject[] {
    return [...this.byName.values()].filter((object) => object.record === record);
  }

  /** Takes a fleet entry out of its fleet; returns what puts it back where it was, unchanged. */
  remove(object: WorldObject): () => void {
    const { container, record } = object;
    const index = container.indexOf(record);
    if (index < 0) throw new Error(`${object.name} is not listed`);
    container.splice(index, 1);
    return () => container.splice(Math.min(index, container.length), 0, record);
  }

  /**
   * Once SCM has served the first page of a walk, deletes `picks.length` of the certificates on it and adds as
   * many at the end of the order (by expiry, ascending): the total stays, and every later page, asked for by offset,
   * starts that many certificates later, so the walk steps over certificates that still exist. `onChurn` is told
   * which objects were deleted. Returns the function that disarms it.
   */
  churnAfterFirstPage(
    picks: number[],
    spared: (object: WorldObject) => boolean,
    onChurn: (deleted: WorldObject[]) => void,
  ): () => void {
    const stop = observeExchanges((exchange) => {
      const { request, answer } = exchange;
      if (exchange.service !== "huawei.scm" || exchange.deliberate || answer.status !== 200) return;
      if (request.url.searchParams.get("offset") !== "0") return;
      stop();
      const served = ((answer.body as { certificates: { name: string }[] }).certificates ?? [])
        .map((certificate) => this.byName.get(certificate.name))
        .filter((object): object is WorldObject => !!object && !spared(object));
      const deleted: WorldObject[] = [];
      for (const pick of picks) {
        const [object] = served.splice(Math.floor(pick * served.length), 1);
        if (!object) break;
        this.remove(object);
        deleted.push(object);
      }
      for (let i = 0; i < deleted.length; i++) this.scmCertificates.push(this.newScmCertificate());
      onChurn(deleted);
    });
    return stop;
  }

  /** A certificate far from expiry, later than any in the fleet: it lands at the end of the order by expiry. */
  private newScmCertificate(): ScmCertificate {
    const n = ++this.churned;
    const certificate: ScmCertificate = {
      id: `scs${String(1_900_000_000_000 + n)}`,
      name: `cert-new-${n}`,
      domain: `new-${n}.example.com`,
      sans: "",
      type: "DV_SSL_CERT",
      brand: "GEOTRUST",
      signature_algorithm: "SHA256WITHRSA",
      deploy_support: true,
      expire_time: scmTime(new Date(this.now.getTime() + 800 * DAY_MS + n * 60_000)),
      domain_type: "SINGLE_DOMAIN",
      validity_period: 12,
      status: "ISSUED",
      domain_count: 1,
      wildcard_count: 0,
    };
    this.addScmObject(certificate);
    return certificate;
  }
}
