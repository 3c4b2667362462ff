import { afterAll, beforeAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../lib/config/load.js";
import type { Config } from "../lib/config/schema.js";
import { HttpClient } from "../lib/sources/http.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { type RunSummary, runSweep } from "../lib/sweep.js";
import type { SweepOptions } from "../lib/sweep-source.js";
import { type ScmCertificate, scmFleet } from "../sim/fleet.js";
import { type ScmSimulatorOptions, scmSimulator } from "../sim/huawei-scm.js";
import type { SimServer } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { SmtpSink } from "../sim/smtp.js";

/**
 * A fresh embedded DynamoDB with certwatch's table on it, for a test file's own store: close both when done
 * (`store.close()`, then `dynamo.close()`).
 */
export async function embeddedStore(table = "certwatch"): Promise<{ dynamo: EmbeddedDynamo; store: Store }> {
  const dynamo = await startEmbeddedDynamo();
  const store = new Store({ table, endpoint: dynamo.endpoint, historyDays: 90 });
  await store.ensureTable();
  return { dynamo, store };
}

/** A fresh embedded store for the calling test file or block: opened before its tests, handed to `use`, closed after. */
export function withEmbeddedStore(use: (store: Store) => void): void {
  let opened: { dynamo: EmbeddedDynamo; store: Store } | undefined;
  beforeAll(async () => {
    opened = await embeddedStore();
    use(opened.store);
  });
  afterAll(async () => {
    opened?.store.close();
    await opened?.dynamo.close();
  });
}

export const KEYS = { accessKey: "TESTACCESSKEY0000001", secretKey: "test-secret-key-9f8e7d6c" };

/** Everything a sweep talks to, on loopback: the SCM simulator, dynalite, a Slack receiver and an SMTP server. */
export class Rig {
  scm!: SimServer;
  scmUrl!: string;
  slack = new SlackReceiverSim();
  slackUrl!: string;
  smtp = new SmtpSink();
  smtpPort!: number;
  dynamo!: EmbeddedDynamo;
  store!: Store;
  http = new HttpClient();
  config!: Config;
  /** The instant of the latest sweep, which the SCM simulator takes for now. */
  clockMs = Date.now();

  constructor(
    readonly certificates: ScmCertificate[],
    private readonly extraYaml = "",
    /** More for the SCM simulator: the temporary keys it accepts, say. */
    private readonly scmOptions: Partial<ScmSimulatorOptions> = {},
  ) {}

  static fleet(count: number, now: Date, seed = 7): ScmCertificate[] {
    return scmFleet({ count, now, seed });
  }

  async start(): Promise<this> {
    // SCM sorts what is expired by its own clock: the one the tests' sweeps run at.
    this.scm = scmSimulator({
      certificates: this.certificates,
      credentials: KEYS,
      clock: () => this.clockMs,
      ...this.scmOptions,
    });
    [this.scmUrl, this.slackUrl, this.smtpPort, this.dynamo] = await Promise.all([
      this.scm.listen(),
      this.slack.listen(),
      this.smtp.listen(),
      startEmbeddedDynamo(),
    ]);
    this.store = new Store({ table: "certwatch", endpoint: this.dynamo.endpoint, historyDays: 90 });
    await this.store.ensureTable();
    this.config = await parseConfig(this.yaml(), "test.yml");
    return this;
  }

  yaml(): string {
    return `
sources:
  - name: hw-test
    type: huawei-scm
    endpoint: ${this.scmUrl}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    region: ap-southeast-1
    timeout: 2s
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${this.slackUrl}" }
  - name: ops-mail
    type: email
    from: certwatch@test.local
    to: [oncall@test.local]
    smtp: { host: 127.0.0.1, port: ${this.smtpPort} }
${this.extraYaml}`;
  }

  sweep(now: Date, options: Partial<SweepOptions> = {}): Promise<RunSummary> {
    this.clockMs = now.getTime();
    return runSweep({ config: this.config, store: this.store, http: this.http, now, ...options });
  }

  async stop(): Promise<void> {
    this.store.close();
    await this.http.close();
    await Promise.all([this.scm.close(), this.slack.close(), this.smtp.close(), this.dynamo.close()]);
  }
}

const DAY_MS = 86_400_000;

/** The certificates a correct expiry/revocation rule must name at `now`, computed from the fleet itself. */
export function expectedAlertNames(certificates: ScmCertificate[], now: Date, thresholdDays = 30): string[] {
  return certificates
    .filter((cert) => {
      if (cert.status === "REVOKED") return true;
      if (!cert.expire_time || cert.status === "CHECKING") return false;
      const notAfter = Date.parse(`${cert.expire_time.replace(" ", "T").replace(/\.0$/, "")}+08:00`);
      return notAfter - now.getTime() <= thresholdDays * DAY_MS;
    })
    .map((cert) => cert.name)
    .sort();
}

/** Every certificate name mentioned in a text, e.g. a digest. */
export function namesIn(text: string): string[] {
  return [...new Set(text.match(/cert-\d{5}/g) ?? [])].sort();
}

/** The words a POSIX shell makes of a command line; nothing but printf runs. */
export function shellWords(commandLine: string): string[] {
  const home = mkdtempSync(join(tmpdir(), "certwatch-sh-"));
  try {
    const printed = execFileSync("/bin/sh", ["-c", `printf '%s\\0' ${commandLine}`], {
      cwd: home,
      env: { PATH: "", HOME: home },
      encoding: "utf8",
    });
    return printed.split("\0").slice(0, -1);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
