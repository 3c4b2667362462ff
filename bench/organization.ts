/**
 * `npm run bench -- --org`: one huawei-scm source over a Huawei Organization ([estate]), as the CLI sweeps it
 * (runSweep expands it into one unit per member, each listed with the keys of the member's agency). Members × N
 * certificates, swept first into an empty store and then quiet, each sweep in a fresh process
 * (bench/sweep-child.ts), the store in a process of its own.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ScmCertificate, scmFleet } from "../sim/fleet.js";
import { TemporaryKeys } from "../sim/huawei-auth.js";
import { iamSimulator } from "../sim/huawei-iam.js";
import { type OrganizationAccount, organizationsSimulator } from "../sim/huawei-organizations.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { fixed, startStore } from "./common.js";
import {
  type SweepRow,
  sweepInChild,
  sweepRow,
  sweepTable,
  type VendorPace,
  writeResult,
} from "./one-source.js";
import { scmListing } from "./scm-listing.js";

const MANAGEMENT = {
  accessKey: "HWORGMANAGEMENTKEY01",
  secretKey: "bench-org-management-secret",
  domainId: "0a1b00000000000000000000mgmt0001",
};
const AGENCY = "certwatch-reader";
const TABLE = "certwatch-bench-org";

export async function organizationBench(
  options: VendorPace & { members: number; certificates: number },
): Promise<void> {
  const { members: count, certificates, ...pace } = options;
  const at = new Date();
  const dir = await mkdtemp(join(tmpdir(), "certwatch-bench-org-"));
  const members: OrganizationAccount[] = Array.from({ length: count }, (_, index) => ({
    id: `0b2c${String(index + 1).padStart(28, "0")}`,
    name: `member-${index + 1}`,
  }));
  const temporary = new TemporaryKeys();
  const iam = iamSimulator({
    accounts: [MANAGEMENT],
    agencies: members.map((member) => ({
      domainId: member.id,
      agencyName: AGENCY,
      trusts: [MANAGEMENT.domainId],
    })),
    temporary,
  });
  // Each member's temporary keys have a budget of their own at the gateway, as a member's own keys would.
  const scm = scmListing({
    credentials: MANAGEMENT,
    domainId: MANAGEMENT.domainId,
    temporary,
    certificates: [],
    members: new Map<string, ScmCertificate[]>(
      members.map((member, index) => [
        member.id,
        scmFleet({ count: certificates, now: at, seed: 100 + index }),
      ]),
    ),
    ...pace,
  });
  const organizations = organizationsSimulator({ managers: [MANAGEMENT], accounts: members });
  const slack = new SlackReceiverSim();
  const [scmUrl, iamUrl, orgUrl, slackUrl] = await Promise.all([
    scm.listen(),
    iam.listen(),
    organizations.listen(),
    slack.listen(),
  ]);
  const opened = await startStore(join(dir, "store"), TABLE);
  const configYaml = `
sources:
  - name: hw-org
    type: huawei-scm
    endpoint: "${scmUrl}"
    domainId: ${MANAGEMENT.domainId}
    credentials: { accessKey: ${MANAGEMENT.accessKey}, secretKey: ${MANAGEMENT.secretKey} }
    qps: ${pace.qps}
    accounts: { from: huawei-organizations, endpoint: "${orgUrl}", stsEndpoint: "${iamUrl}", role: ${AGENCY} }
receivers:
  - { name: bench-slack, type: slack, webhookUrl: "${slackUrl}" }
`;
  console.log(
    `organization: ${count} members × ${certificates} SCM certificates at ${pace.qps} calls/s per member's keys ` +
      `and ${pace.latencyMs} ms latency; each sweep in a fresh process, the store (dynalite) in another`,
  );
  const rows: SweepRow[] = [];
  try {
    for (const phase of ["first", "quiet"]) {
      const postsBefore = slack.posts.length;
      const figures = await sweepInChild(
        { configYaml, endpoint: opened.endpoint ?? "", table: TABLE, runs: "cli" },
        pace.heapLimitMB,
      );
      rows.push(sweepRow(phase, figures, pace, slack.posts.length - postsBefore));
      const failed = figures.units.filter((unit) => !unit.ok);
      for (const unit of failed.slice(0, 5)) console.log(`  ERROR ${unit.name}: ${unit.error}`);
      console.log(
        `${phase}: ${fixed(figures.wallS)} s, ${figures.units.length} units (${failed.length} failed), ` +
          `peak RSS ${fixed(figures.peakRssMB)} MB`,
      );
    }
  } finally {
    await opened.close();
    await Promise.all([scm.close(), iam.close(), organizations.close(), slack.close()]);
    await rm(dir, { recursive: true, force: true });
  }
  console.log();
  for (const line of sweepTable(rows)) console.log(line);
  console.log(
    "(bound: the busiest member's calls ÷ QPS, since every member lists with its own keys and all are swept together)",
  );
  const file = await writeResult("org", at, {
    case: "organization",
    members: count,
    certificatesPerMember: certificates,
    ...pace,
    store: "dynalite in a child process, one for both sweeps; each sweep in a fresh process",
    sweeps: rows,
  });
  console.log(`written: ${file}`);
}
