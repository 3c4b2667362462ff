import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CasSimulator } from "../../sim/aliyun-cas.js";
import { clientCertificateFleet, deploymentFleet, sslCertificateFleet } from "../../sim/aliyun-fleet.js";
import { type ScmCertificate, scmFleet } from "../../sim/fleet.js";
import { identityCenterFleet, identityCenterSimulator } from "../../sim/huawei-identity-center.js";
import { scmSimulator } from "../../sim/huawei-scm.js";
import { SlackReceiverSim } from "../../sim/slack.js";
import { SmtpSink } from "../../sim/smtp.js";
import { makeCa, makeLeaf, TlsSite } from "../../sim/tls-site.js";
import { parseConfig } from "../config/load.js";
import { shellWord } from "../model/text.js";
import { DAY_MS, HOUR_MS, parseLocalTime } from "../model/time.js";
import { renderHtml } from "../report/html.js";
import { type ReportRow, readInventory } from "../report/inventory.js";
import { HttpClient } from "../sources/http.js";
import { openStore } from "../store/open.js";
import { type AlertReport, runSweep } from "../sweep.js";
import { namedBy } from "./find.js";
import { type Output, renderSummary } from "./output.js";

/** Where the demo leaves its config, store, email and report; the commands it prints name it from here. */
const DEMO_DIR = ".certwatch/demo";
const FLEET_SIZE = 300;
const HUAWEI_KEYS = { accessKey: "DEMOACCESSKEY0000001", secretKey: "demo-secret-key-never-shown" };
const ALIYUN_KEYS = { accessKey: "LTAI5tDEMOACCESSKEY0", secretKey: "demo-aliyun-secret-never-shown" };

/** Said at the top of the config the demo leaves behind. */
const CONFIG_HEADER = `# Written by \`certwatch demo\`. The simulators and receivers it names stopped when the demo ended: a sweep
# with this config cannot reach them, while report, history and ack read what the demo stored. Every key, secret
# and URL in it is a demo value.
`;

/**
 * An expiry alert of the first sweep whose certificate's name fits that object alone, so that `history NAME` finds
 * one object: the demo's next commands must work as printed.
 */
function exploredAlert(alerts: AlertReport[], rows: ReportRow[]): AlertReport | undefined {
  return alerts.find(
    (alert) =>
      alert.fingerprint.startsWith("expiry:") &&
      alert.transition !== "resolved" &&
      rows.filter((row) => namedBy(row, alert.name)).length === 1,
  );
}

/** How many of the SCM fleet's live certificates the demo's TLS server serves; the first one serves its old one. */
const SERVED = 3;

/** When an SCM certificate of the demo fleet ends: its expire_time is China wall-clock time, as SCM's. */
function expiryOf(certificate: ScmCertificate): number {
  return Date.parse(parseLocalTime(certificate.expire_time, "+08:00") ?? "");
}

/**
 * A TLS server on 127.0.0.1 standing for the sites of a few SCM certificates: the first still serves the certificate
 * its renewal replaced (renewed but not deployed), the others serve what SCM holds.
 */
function demoSite(certificates: ScmCertificate[], now: Date): { server: TlsSite; hosts: string[] } {
  const live = certificates.filter(
    (certificate) =>
      certificate.status === "ISSUED" &&
      !certificate.domain.startsWith("*") &&
      expiryOf(certificate) - now.getTime() > 60 * DAY_MS,
  );
  const { intermediate } = makeCa(now);
  const server = new TlsSite();
  const hosts = live.slice(0, SERVED).map((certificate, index) => {
    const days = index === 0 ? 9 : (expiryOf(certificate) - now.getTime()) / DAY_MS;
    server.serve(certificate.domain, [makeLeaf(now, [certificate.domain], days, intermediate), intermediate]);
    return certificate.domain;
  });
  return { server, hosts };
}

/**
 * Runs the real pipeline against local stand-ins: the SCM simulator with a few hundred certificates, the other
 * clouds' simulators, a TLS server for a few of the certificates' sites, a Slack webhook receiver and an SMTP server. Shows what an on-call engineer would receive, then shows that a second
 * sweep stays quiet. Leaves its config, store and HTML report in DEMO_DIR, and ends with the commands that explore
 * them.
 */
export async function demoCommand(output: Output): Promise<number> {
  const dir = resolve(DEMO_DIR);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const now = new Date();
  const scmCertificates = scmFleet({ count: FLEET_SIZE, now });
  const scm = scmSimulator({
    certificates: scmCertificates,
    credentials: HUAWEI_KEYS,
    latencyMs: 20,
  });
  const ssoFleet = identityCenterFleet({ applications: 10, certificatesPerApplication: 2, now });
  const identityCenter = identityCenterSimulator({
    fleet: ssoFleet,
    credentials: HUAWEI_KEYS,
    latencyMs: 20,
  });
  const cas = new CasSimulator({
    credentials: ALIYUN_KEYS,
    qps: 10,
    latencyMs: 20,
    clientCertificates: clientCertificateFleet({ count: 100, now }),
    deploymentJobs: deploymentFleet({ jobs: 8, workersPerJob: 4, now }),
    sslCertificates: sslCertificateFleet({ count: 80, now }),
    now,
  });
  const slack = new SlackReceiverSim();
  const smtp = new SmtpSink();
  const site = demoSite(scmCertificates, now);
  const [scmUrl, icUrl, casUrl, slackUrl, smtpPort] = await Promise.all([
    scm.listen(),
    identityCenter.listen(),
    cas.listen(),
    slack.listen(),
    smtp.listen(),
    site.server.start(),
  ]);
  const endpoints = site.hosts
    .map((host) => `{ host: ${host}, port: ${site.server.port}, connectTo: 127.0.0.1 }`)
    .join(", ");
  const http = new HttpClient();
  const huawei = `{ accessKey: ${HUAWEI_KEYS.accessKey}, secretKey: ${HUAWEI_KEYS.secretKey} }`;
  const aliyun = `{ accessKey: ${ALIYUN_KEYS.accessKey}, secretKey: ${ALIYUN_KEYS.secretKey} }`;
  const configText = `${CONFIG_HEADER}
store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }
sources:
  - { name: hw-scm, type: huawei-scm, endpoint: "${scmUrl}", credentials: ${huawei}, region: ap-southeast-1 }
  - { name: hw-sso, type: huawei-identity-center, endpoint: "${icUrl}", credentials: ${huawei}, instanceId: ${ssoFleet.instanceId} }
  - { name: ali-pki, type: aliyun-client-certificates, endpoint: "${casUrl}", credentials: ${aliyun} }
  - { name: ali-deploy, type: aliyun-deployment-jobs, endpoint: "${casUrl}", credentials: ${aliyun} }
  - { name: ali-ssl, type: aliyun-ssl-certificates, endpoint: "${casUrl}", credentials: ${aliyun} }
  - { name: edge, type: tls-endpoints, endpoints: [${endpoints}], retries: 0 }
receivers:
  - { name: demo-slack, type: slack, webhookUrl: "${slackUrl}" }
  - name: demo-mail
    type: email
    from: certwatch@demo.local
    to: [oncall@demo.local]
    smtp: { host: 127.0.0.1, port: ${smtpPort} }
`;
  const configFile = join(DEMO_DIR, "certwatch.yml");
  await writeFile(configFile, configText);
  const config = await parseConfig(configText, configFile);
  const opened = await openStore(config.store, { dryRun: false });
  try {
    output.out(
      "Demo: simulated Huawei Cloud (SCM, Identity Center) and Alibaba Cloud (CAS certificates, private CA, " +
        "deployment jobs) accounts, and sites serving some of their certificates, on 127.0.0.1",
    );
    output.out("");
    const first = await runSweep({ config, store: opened.store, http, now, purgeHistory: true });
    renderSummary(first, output, 12);

    const post = slack.posts[0];
    const mail = smtp.messages[0];
    output.out("");
    output.out("WHAT THE ON-CALL ENGINEER RECEIVES");
    if (post) {
      await writeFile(
        join(dir, "slack.json"),
        `${JSON.stringify(
          slack.posts.map((p) => p.body),
          null,
          2,
        )}\n`,
      );
      output.out(
        `Slack (${slack.posts.length} post${slack.posts.length === 1 ? "" : "s"}; Block Kit JSON in ${join(DEMO_DIR, "slack.json")}):`,
      );
      for (const line of (post.body.text ?? "").split("\n").slice(0, 12)) output.out(`  ${line}`);
      const lines = (post.body.text ?? "").split("\n").length;
      if (lines > 12) output.out(`  ... ${lines - 12} more lines`);
    }
    if (mail) {
      const file = join(DEMO_DIR, "email.html");
      await writeFile(file, mail.html);
      output.out("");
      output.out(`Email to ${mail.to.join(", ")}: "${mail.subject}"`);
      output.out(`  open ${file} in a browser to see it as received`);
    }

    const later = new Date(now.getTime() + HOUR_MS);
    const second = await runSweep({ config, store: opened.store, http, now: later });
    const sent = second.deliveries.reduce((sum, delivery) => sum + delivery.messages, 0);
    output.out("");
    output.out(
      `A second sweep an hour later found ${second.alerts.length} new alerts and sent ${sent} messages: nothing repeats.`,
    );

    const inventory = await readInventory(opened.store, config, now, { sources: config.sources });
    const report = join(DEMO_DIR, "report.html");
    await writeFile(report, renderHtml(inventory));
    output.out(`The whole inventory, ${inventory.rows.length} objects: open ${report} in a browser.`);
    for (const alert of first.alerts.filter((candidate) =>
      candidate.fingerprint.startsWith("not-deployed:"),
    )) {
      output.out(`What a site really serves, beside the inventory (its Endpoints table): ${alert.summary}`);
    }
    output.out(
      `Try it on your own account: copy certwatch.example.yml to certwatch.yml, then \`npx certwatch validate\`.`,
    );
    const withConfig = `--config ${shellWord(configFile)}`;
    output.out("");
    output.out(`Explore what the demo stored with its config, ${configFile}; no simulator is needed:`);
    output.out(`  npx certwatch report ${withConfig}`);
    const explored = exploredAlert(first.alerts, inventory.rows);
    if (explored) {
      const reason = shellWord("demo: renewal booked");
      output.out(`  npx certwatch history ${shellWord(explored.name)} ${withConfig}`);
      output.out(
        `  npx certwatch ack ${shellWord(explored.fingerprint)} --until 3d --reason ${reason} ${withConfig}`,
      );
    }
    return first.exitCode || second.exitCode;
  } finally {
    await http.close();
    await opened.close();
    await Promise.all([
      scm.close(),
      identityCenter.close(),
      cas.close(),
      slack.close(),
      smtp.close(),
      site.server.close(),
    ]);
  }
}
