import { z } from "zod";
import { OFFSET_PATTERN, parseDuration } from "../model/time.js";
import { placeOf, sweepUnits } from "./units.js";

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]", "::1"]);

/** 127.0.0.0/8, localhost and ::1: where plain http is acceptable, because nothing crosses a network. */
export function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** https:// everywhere; http:// only on loopback, where simulators and tests stand in for the clouds. */
const endpoint = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The value may be a secret (a Slack webhook URL): say what is wrong without repeating it.
    ctx.addIssue({ code: "custom", message: "not a URL" });
    return;
  }
  if (url.protocol === "https:") return;
  if (url.protocol === "http:" && isLoopback(url.hostname)) return;
  ctx.addIssue({ code: "custom", message: "must start with https:// (http:// is allowed only on loopback)" });
});

/** A span above zero: a timeout or window of 0 would fail every call or hold nothing. */
const duration = z.string().refine((text) => (parseDuration(text) ?? 0) > 0, {
  message: "a duration above zero, such as 90s, 15m, 24h or 7d",
});

/**
 * Huawei: a temporary AK/SK from an agency, `POST /v3.0/OS-CREDENTIAL/securitytokens` with `assume_role`
 * (lib/sources/huawei/credentials.ts), called with the source's own keys (or token). The agency lives in the
 * account that delegates (`domainId`, else `domainName`) and must trust the account of those keys.
 */
const huaweiAgency = z
  .strictObject({
    agencyName: z.string().min(1),
    domainId: z.string().min(1).optional(),
    domainName: z.string().min(1).optional(),
    /** IAM's range; 900 (its default) when left out. Refreshed before it expires. */
    durationSeconds: z.number().int().min(900).max(86_400).optional(),
    /** IAM's global endpoint unless given (a regional `https://iam.<region>.myhuaweicloud.com` works too). */
    endpoint: endpoint.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.domainId === undefined && value.domainName === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["domainId"],
        message: "required: the account that owns the agency (or give domainName)",
      });
    }
  });

/**
 * Huawei: an AK/SK pair (with an optional security token for temporary keys) or an IAM token; neither, and the
 * vendor's environment variables are used (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, ...). Optionally an agency to
 * assume with them.
 */
const huaweiCredentials = z
  .strictObject({
    accessKey: z.string().min(1).optional(),
    secretKey: z.string().min(1).optional(),
    securityToken: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    assumeAgency: huaweiAgency.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.token !== undefined) return;
    // Neither key: the vendor's chain (the environment) at sweep time. One without the other is a mistake.
    if (value.accessKey === undefined && value.secretKey === undefined) return;
    for (const key of ["accessKey", "secretKey"] as const) {
      if (value[key] === undefined) ctx.addIssue({ code: "custom", path: [key], message: "required" });
    }
  });

/** STS AssumeRole before sweeping (vendor-contracts.json `aliyun.sts.AssumeRole`); refreshed before it expires. */
const aliyunAssumeRole = z.strictObject({
  roleArn: z
    .string()
    .regex(/^acs:ram::\d+:role\/[\w.@-]+$/, "a RAM role ARN: acs:ram::<account id>:role/<role name>"),
  /** The trust policy's `sts:ExternalId` condition: 2 to 1224 characters of [\w+=,.@:/-]. */
  externalId: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, "2 to 1224 letters, digits and + = , . @ : / - _")
    .optional(),
  sessionName: z
    .string()
    .regex(/^[\w.@-]{2,64}$/, "2 to 64 letters, digits and . @ - _")
    .default("certwatch"),
  /** 900 s up to the role's maximum session duration (at most 12 hours). */
  durationSeconds: z
    .number()
    .int("whole seconds")
    .min(900, "at least 900 seconds")
    .max(43200, "at most 43200 seconds")
    .default(3600),
  endpoint: endpoint.optional(),
});

/**
 * Alibaba: an AccessKey pair, with the STS security token when the keys are temporary; optionally a role to assume
 * with them. Without keys (`{}` or no `credentials` at all) the vendor's own chain supplies them: the environment,
 * the CLI's and the SDK's credential files, the ECS instance's RAM role (lib/sources/aliyun/credentials/).
 */
const aliyunCredentials = z
  .strictObject({
    accessKey: z.string().min(1).optional(),
    secretKey: z.string().min(1).optional(),
    securityToken: z.string().min(1).optional(),
    assumeRole: aliyunAssumeRole.optional(),
  })
  .superRefine((value, ctx) => {
    const given = value.accessKey !== undefined || value.secretKey !== undefined;
    if (!given && value.securityToken === undefined) return;
    for (const key of ["accessKey", "secretKey"] as const) {
      if (value[key] === undefined)
        ctx.addIssue({ code: "custom", path: [key], message: "required with the other key" });
    }
  });

/** One site or region of a source: its URL, and the region label its observations carry. */
const endpointEntry = z.union([
  endpoint,
  z.strictObject({ url: endpoint, region: z.string().min(1).optional() }),
]);

const sourceCommon = {
  name: z.string().regex(/^[a-z0-9-]+$/, "lowercase letters, digits and dashes only"),
  endpoint: endpoint.optional(),
  /** Several sites or regions of one account (CAS China, international, Europe): one sweep unit each (`units.ts`). */
  endpoints: z.array(endpointEntry).min(1).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  /** Calls per second allowed for this source's credential; sources sharing a credential share it. */
  qps: z.number().min(0.1, "at least 0.1 calls per second").max(1000).optional(),
  /** Requests in flight at once for this source's credential. */
  concurrency: z.number().int().positive().max(64).optional(),
  timeout: duration.optional(),
  /** The most pages one walk of a listing may take; `DEFAULT_MAX_PAGES` (lib/sources/scope.ts) says why 10,000. */
  maxPages: z.number().int("a whole number of pages").positive("at least 1 page").optional(),
  /** How long collecting this source may take before it fails alone; `DEFAULT_TIME_BUDGET` says why 8m. */
  timeBudget: duration.optional(),
};

/** Shell-style globs over account ids or names: `*` any run of characters, `?` one. */
const accountPatterns = z.array(z.string().min(1)).min(1);

/**
 * Huawei: expand the source over an Organization, discovered on every run (Organizations `ListAccounts`, with the
 * source's own keys: the management account or a delegated administrator), then the agency `role` in each member
 * (IAM securitytokens `assume_role` with the member's account id as `domain_id`; lib/sources/accounts.ts).
 */
const huaweiAccounts = z.strictObject({
  from: z.literal("huawei-organizations"),
  endpoint: endpoint.default("https://organizations.myhuaweicloud.com"),
  /** The IAM endpoint the members' agencies are assumed at; IAM's global endpoint unless given. */
  stsEndpoint: endpoint.optional(),
  /** The agency assumed in each member; it must trust the account of the source's keys. */
  role: z.string().regex(/^[\w.@-]{1,64}$/, "an agency name: letters, digits and . @ - _"),
  include: accountPatterns.default(["*"]),
  exclude: z.array(z.string().min(1)).default([]),
  /** The members' temporary keys: IAM's range, 900 s to 24 h. */
  durationSeconds: z.number().int().min(900).max(86_400).default(3600),
});

const huaweiScm = z.strictObject({
  ...sourceCommon,
  credentials: huaweiCredentials.prefault({}),
  accounts: huaweiAccounts.optional(),
  type: z.literal("huawei-scm"),
  /** SCM's expire_time has no zone; Huawei's console shows China Standard Time. */
  timezone: z.string().regex(OFFSET_PATTERN, "a fixed offset such as +08:00 or Z").default("+08:00"),
  /** Sent as X-Project-Id, the scope of BasicCredentials, which SCM's SDK also accepts. */
  projectId: z.string().min(1).optional(),
  /** Sent as X-Domain-Id (the account id), the scope of GlobalCredentials, SCM's default: SCM is global. */
  domainId: z.string().min(1).optional(),
  /** A label only: SCM is global, so nothing about a region is read from its endpoint. */
  region: z.string().min(1).optional(),
});

const huaweiIdentityCenter = z.strictObject({
  ...sourceCommon,
  credentials: huaweiCredentials.prefault({}),
  accounts: huaweiAccounts.optional(),
  type: z.literal("huawei-identity-center"),
  instanceId: z.string().min(1),
  /** Only these application instances; every one the instance has when left out. */
  applicationInstanceIds: z.array(z.string().min(1)).min(1).optional(),
  /** Identity Center is a global service; X-Domain-Id is sent when set. */
  domainId: z.string().min(1).optional(),
});

/**
 * Alibaba: expand the source over a Resource Directory, discovered on every run (`ListAccounts`, 2020-03-31, with
 * the source's own credentials: the management account or a delegated administrator), then `AssumeRole` into
 * `acs:ram::<member>:role/<role>` in each member (lib/sources/accounts.ts).
 */
const aliyunAccounts = z.strictObject({
  from: z.literal("resource-directory"),
  endpoint: endpoint.default("https://resourcemanager.aliyuncs.com"),
  /** Where the members' roles are assumed; the source's `assumeRole.endpoint`, else STS's global endpoint. */
  stsEndpoint: endpoint.optional(),
  /** The RAM role assumed in each member; the directory creates this one in every member it creates. */
  role: z
    .string()
    .regex(/^[\w.@-]{1,64}$/, "a RAM role name: letters, digits and . @ - _")
    .default("ResourceDirectoryAccountAccessRole"),
  include: accountPatterns.default(["*"]),
  exclude: z.array(z.string().min(1)).default([]),
  /** The members' temporary keys: 900 s up to the role's maximum session duration. */
  durationSeconds: z.number().int().min(900).max(43200).default(3600),
});

const aliyunCommon = {
  ...sourceCommon,
  credentials: aliyunCredentials.prefault({}),
  accounts: aliyunAccounts.optional(),
  /** For labels and routing; CAS itself is global. */
  region: z.string().min(1).optional(),
};

const aliyunClientCertificates = z.strictObject({
  ...aliyunCommon,
  type: z.literal("aliyun-client-certificates"),
  /** Identifiers per DescribeClientCertificateStatus call (comma-separated in one parameter). */
  statusBatchSize: z.number().int().min(1).max(100).default(50),
  resourceGroupId: z.string().min(1).optional(),
});

const aliyunDeploymentJobs = z.strictObject({
  ...aliyunCommon,
  type: z.literal("aliyun-deployment-jobs"),
  /** A worker pending, scheduling or processing for longer than this is reported as stuck. */
  stuckAfter: duration.default("6h"),
  /** ContactIds for the deployment jobs `certwatch redeploy` creates. */
  contactIds: z.array(z.number().int().positive()).optional(),
});

const aliyunSslCertificates = z.strictObject({
  ...aliyunCommon,
  type: z.literal("aliyun-ssl-certificates"),
});

/** Alibaba private CAs, root and subordinate (lib/sources/aliyun/private-ca.ts). */
const aliyunPrivateCa = z.strictObject({
  ...aliyunCommon,
  type: z.literal("aliyun-private-ca"),
  resourceGroupId: z.string().min(1).optional(),
});

/** Huawei CCM private CAs and the private certificates they issued (lib/sources/huawei/private-ca.ts). */
const huaweiPrivateCa = z.strictObject({
  ...sourceCommon,
  credentials: huaweiCredentials.prefault({}),
  accounts: huaweiAccounts.optional(),
  type: z.literal("huawei-private-ca"),
  /** Sent as X-Domain-Id: CCM takes global credentials only, so never a project. */
  domainId: z.string().min(1).optional(),
  /** A label only; nothing about a region is read from the endpoint. */
  region: z.string().min(1).optional(),
});

/** A host to probe: a DNS name or an IP address, nothing else (no scheme, no port: `{ host, port }` for that). */
const probeHost = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/,
    "a host name or IP address, without scheme or port (write { host, port } for a port other than 443)",
  );

/** One endpoint whose served certificate is watched: `www.example.com`, or where and how to reach it. */
const tlsEndpoint = z.union([
  probeHost,
  z.strictObject({
    host: probeHost,
    port: z.number().int().min(1).max(65_535).default(443),
    /** The SNI name sent and checked against the certificate; `host` unless given. */
    serverName: probeHost.optional(),
    /** Connect to this address instead of resolving `host` (one node behind a load balancer, say). */
    connectTo: probeHost.optional(),
  }),
]);

const tlsEndpoints = z.strictObject({
  name: sourceCommon.name,
  labels: sourceCommon.labels,
  timeBudget: sourceCommon.timeBudget,
  type: z.literal("tls-endpoints"),
  endpoints: z.array(tlsEndpoint).min(1).optional(),
  /** Also probe every hostname the inventories hold (wildcards skipped). */
  fromInventory: z.boolean().default(false),
  /** The port the inventories' hostnames are probed on (`fromInventory`). */
  inventoryPort: z.number().int().min(1).max(65535).default(443),
  /** `alert`: a served certificate that no inventory holds for the endpoint's name is a warning of its own. */
  notInInventory: z.enum(["alert", "ignore"]).default("ignore"),
  /** Handshakes in flight at once; `DEFAULT_PROBE_CONCURRENCY` (lib/sources/tls/probe.ts) says why 16. */
  concurrency: z.number().int().positive().max(256).optional(),
  /** How long one handshake may take, connecting included; 10s unless given. */
  timeout: duration.optional(),
  /** Handshakes tried again after a failure, with a growing pause between them. */
  retries: z.number().int().min(0).max(5).default(2),
});

const source = z.discriminatedUnion("type", [
  huaweiScm,
  huaweiIdentityCenter,
  aliyunClientCertificates,
  aliyunDeploymentJobs,
  aliyunSslCertificates,
  aliyunPrivateCa,
  huaweiPrivateCa,
  tlsEndpoints,
]);

const matcher = z.strictObject({
  severity: z.enum(["critical", "warning", "info"]).optional(),
  source: z.string().optional(),
  provider: z.string().optional(),
  kind: z.string().optional(),
  domain: z.string().optional(),
  /** An organization's member account, by its id or its name (the `account`/`accountName` labels), globs. */
  account: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

/**
 * When a silence ends: an ISO time, or a span such as `3d` as `ack --until` takes. A config file has no moment of
 * its own to count a span from (every run reads it again; edits, checkouts and bundles move its modification time),
 * so a span counts from the first run that sees the silence, which the store records (see lib/silences.ts).
 */
const silenceEnd = z.string().superRefine((text, ctx) => {
  if (z.iso.datetime({ offset: true }).safeParse(text).success || parseDuration(text) !== undefined) return;
  ctx.addIssue({
    code: "custom",
    message: `${JSON.stringify(text)} is neither an ISO time such as 2027-01-01T00:00:00Z nor a span such as 3d`,
  });
});

/** Every receiver: a unique name and the language its messages are written in. */
const receiverCommon = {
  name: z.string().min(1),
  language: z.enum(["en", "zh-CN"]).default("en"),
};

const slackReceiver = z.strictObject({
  ...receiverCommon,
  type: z.literal("slack"),
  webhookUrl: endpoint,
});

const emailReceiver = z
  .strictObject({
    ...receiverCommon,
    type: z.literal("email"),
    from: z.string().min(3),
    to: z.array(z.string().min(3)).min(1),
    subjectPrefix: z.string().default("[certwatch]"),
    smtp: z
      .strictObject({
        host: z.string().min(1),
        port: z.number().int().positive().default(587),
        secure: z.boolean().default(false),
        user: z.string().optional(),
        pass: z.string().optional(),
      })
      .optional(),
    /** Amazon SES (v2 API) instead of SMTP: what a Lambda deployment uses, with the function's own role. */
    ses: z
      .strictObject({
        region: z.string().min(1).optional(),
        /** A DynamoDB-style override for tests and SES-compatible services; https except on loopback. */
        endpoint: endpoint.optional(),
        configurationSetName: z.string().min(1).optional(),
      })
      .optional(),
  })
  .superRefine((receiver, ctx) => {
    if ((receiver.smtp === undefined) === (receiver.ses === undefined)) {
      ctx.addIssue({ code: "custom", path: ["smtp"], message: "give either smtp or ses (exactly one)" });
    }
  });

/** A robot's signing secret: when the key is there it must hold something, or every message is refused. */
const signingSecret = z.string().min(1, "must not be empty").optional();

/** RFC 9110 token characters: anything else would make the request itself invalid. */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "not a valid HTTP header name");

const dingtalkReceiver = z.strictObject({
  ...receiverCommon,
  type: z.literal("dingtalk"),
  webhookUrl: endpoint,
  secret: signingSecret,
});

const feishuReceiver = z.strictObject({
  ...receiverCommon,
  type: z.literal("feishu"),
  webhookUrl: endpoint,
  secret: signingSecret,
});

const wecomReceiver = z.strictObject({
  ...receiverCommon,
  type: z.literal("wecom"),
  webhookUrl: endpoint,
});

const webhookReceiver = z.strictObject({
  ...receiverCommon,
  type: z.literal("webhook"),
  url: endpoint,
  secret: signingSecret,
  headers: z.record(headerName, z.string()).optional(),
});

const receiver = z.discriminatedUnion("type", [
  slackReceiver,
  emailReceiver,
  dingtalkReceiver,
  feishuReceiver,
  wecomReceiver,
  webhookReceiver,
]);

/** Something to probe, and each endpoint once: the same one twice would be probed, and announced, twice. */
function checkTlsEndpoints(
  source: z.output<typeof tlsEndpoints>,
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  if (!source.endpoints && !source.fromInventory) {
    ctx.addIssue({
      code: "custom",
      path: [...path, "endpoints"],
      message: "nothing to probe: list endpoints, or set fromInventory: true",
    });
  }
  const seen = new Map<string, number>();
  source.endpoints?.forEach((entry, at) => {
    const target = tlsTarget(entry);
    const same = `${target.host}:${target.port}/${target.serverName}@${target.connectTo ?? ""}`.toLowerCase();
    const earlier = seen.get(same);
    if (earlier !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [...path, "endpoints", at],
        message: `the same endpoint as endpoints[${earlier}]: it would be probed, and announced, twice`,
      });
    }
    seen.set(same, at);
  });
}

/** An endpoint as written, with its defaults filled in: port 443, the host as the SNI name. */
export function tlsTarget(entry: z.output<typeof tlsEndpoint>): TlsTarget {
  const target = typeof entry === "string" ? { host: entry, port: 443 } : entry;
  return { ...target, serverName: target.serverName ?? target.host };
}

export interface TlsTarget {
  host: string;
  port: number;
  serverName: string;
  connectTo?: string;
}

/** The config as written; `configSchema` expands each source into its sweep units. */
const writtenConfig = z
  .strictObject({
    store: z
      .strictObject({
        type: z.enum(["embedded", "dynamodb"]).default("embedded"),
        path: z.string().min(1).default(".certwatch"),
        /** DynamoDB's rule for table names. */
        table: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{3,255}$/, "3 to 255 letters, digits, underscores, dots and dashes")
          .default("certwatch"),
        region: z.string().optional(),
        endpoint: endpoint.optional(),
        /** How long sweep records and snapshots are kept. */
        historyDays: z.number().int().positive().default(90),
      })
      .prefault({}),
    sources: z.array(source).min(1),
    alerts: z
      .strictObject({
        expiryThresholdsDays: z.array(z.number().int().nonnegative()).min(1).default([30, 14, 7, 1]),
        criticalWithinDays: z.number().int().nonnegative().default(7),
        repeatCritical: duration.optional(),
        failedDeploymentStatuses: z.array(z.string()).default(["error", "rollback_error"]),
        sourceFailuresBeforeAlert: z.number().int().positive().default(2),
        /** An alert when a source's last good sweep is older than this. */
        staleAfter: duration.optional(),
        /** Accept a source's inventory falling to zero or by more than half in one sweep as real. */
        trustInventoryDrops: z.boolean().default(false),
        /** Warnings about what a certificate holds, wherever its PEM is at hand (lib/rules/content.ts); each on. */
        contentChecks: z
          .strictObject({
            /** RSA keys under 2048 bits. */
            weakRsaKey: z.boolean().default(true),
            /** Certificates signed with SHA-1. */
            sha1Signature: z.boolean().default(true),
            /** SANs that disagree with the domains the source lists for the certificate. */
            sanMismatch: z.boolean().default(true),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Acting on what a sweep finds; `certwatch redeploy` honours `window` whether or not automation is on. */
    remediation: z
      .strictObject({
        /** The same failed workers are not redeployed twice within this span, by hand or automatically. */
        window: duration.default("24h"),
        /**
         * After each run's sweeps, redeploy the failed workers of CAS deployment jobs (not jobs certwatch created
         * itself), as `certwatch redeploy` would, and announce each attempt in the digest. Off unless set.
         */
        redeployFailedWorkers: z.boolean().default(false),
        /** At most this many deployment jobs created per run; the rest wait for the next run. */
        maxJobsPerRun: z.number().int().positive().default(5),
      })
      .prefault({}),
    receivers: z.array(receiver).default([]),
    /** Requested after every run that swept every source: a dead man's switch (healthchecks, Cronitor, ...). */
    heartbeatUrl: endpoint.optional(),
    routes: z
      .array(
        z.strictObject({
          match: matcher.default({}),
          receivers: z
            .array(z.string())
            .min(1, "empty: the alerts this route matches would go to no receiver; name at least one"),
          continue: z.boolean().default(false),
        }),
      )
      .optional(),
    defaultReceivers: z
      .array(z.string())
      .min(
        1,
        "empty: alerts no route matches would go to no receiver; name at least one, or leave the key out to send them to every receiver",
      )
      .optional(),
    silences: z
      .array(
        z.strictObject({
          match: matcher,
          until: silenceEnd,
          reason: z.string().min(1),
        }),
      )
      .default([]),
  })
  .superRefine((config, ctx) => {
    const unique = (names: string[], path: string) => {
      const seen = new Set<string>();
      names.forEach((name, index) => {
        if (seen.has(name))
          ctx.addIssue({ code: "custom", path: [path, index, "name"], message: `duplicate name ${name}` });
        seen.add(name);
      });
    };
    unique(
      config.sources.map((s) => s.name),
      "sources",
    );
    config.sources.forEach((source, index) => {
      if (source.type === "tls-endpoints") {
        checkTlsEndpoints(source, ["sources", index], ctx);
        return;
      }
      if ((source.endpoint === undefined) === (source.endpoints === undefined)) {
        ctx.addIssue({
          code: "custom",
          path: ["sources", index, "endpoint"],
          message: "give endpoint, or endpoints for several sites or regions (exactly one of them)",
        });
      }
      const seen = new Map<string, number>();
      source.endpoints?.forEach((entry, at) => {
        const same = placeOf(typeof entry === "string" ? entry : entry.url);
        const earlier = seen.get(same);
        if (earlier !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: ["sources", index, "endpoints", at],
            message: `the same endpoint as endpoints[${earlier}]: it would be swept, and announced, twice`,
          });
        }
        seen.set(same, at);
      });
      if (source.type.startsWith("huawei-") && source.accounts && "assumeAgency" in source.credentials) {
        if (source.credentials.assumeAgency) {
          ctx.addIssue({
            code: "custom",
            path: ["sources", index, "credentials", "assumeAgency"],
            message:
              "not with accounts: the organization is listed, and each member's agency assumed, with the source's own keys",
          });
        }
      }
      if ((source.endpoints?.length ?? 0) > 1 && "region" in source && source.region !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["sources", index, "region"],
          message:
            "one region cannot label several endpoints: give each its own, endpoints: [{ url, region }]",
        });
      }
    });
    unique(
      config.receivers.map((r) => r.name),
      "receivers",
    );
    if (config.receivers.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["receivers"],
        message: "no receiver: every alert would be recorded as announced, to nobody; configure at least one",
      });
    }
    const known = new Set(config.receivers.map((r) => r.name));
    const checkRefs = (names: string[], path: (string | number)[]) => {
      names.forEach((name, index) => {
        if (!known.has(name))
          ctx.addIssue({ code: "custom", path: [...path, index], message: `no receiver named ${name}` });
      });
    };
    config.routes?.forEach((route, index) => {
      checkRefs(route.receivers, ["routes", index, "receivers"]);
    });
    if (config.defaultReceivers) checkRefs(config.defaultReceivers, ["defaultReceivers"]);
    if (config.remediation.redeployFailedWorkers) {
      config.sources.forEach((source, index) => {
        if (source.type === "aliyun-deployment-jobs" && !source.contactIds?.length) {
          ctx.addIssue({
            code: "custom",
            path: ["sources", index, "contactIds"],
            message:
              "required while remediation.redeployFailedWorkers is on: CreateDeploymentJob needs CAS contact ids (ListContact)",
          });
        }
      });
    }
  });

export const configSchema = writtenConfig.transform((config) => ({
  ...config,
  sources: config.sources.flatMap(sweepUnits),
}));

/** A source as the config file writes it. */
export type WrittenSource = z.output<typeof writtenConfig>["sources"][number];
export type Config = z.infer<typeof configSchema>;
/** One sweep unit: a configured source at one endpoint (see `sweepUnits`). */
export type SourceConfig = Config["sources"][number];
export type ReceiverConfig = Config["receivers"][number];
export type SlackReceiverConfig = Extract<ReceiverConfig, { type: "slack" }>;
export type EmailReceiverConfig = Extract<ReceiverConfig, { type: "email" }>;
export type DingtalkReceiverConfig = Extract<ReceiverConfig, { type: "dingtalk" }>;
export type FeishuReceiverConfig = Extract<ReceiverConfig, { type: "feishu" }>;
export type WecomReceiverConfig = Extract<ReceiverConfig, { type: "wecom" }>;
export type WebhookReceiverConfig = Extract<ReceiverConfig, { type: "webhook" }>;
export type AlertsConfig = Config["alerts"];
export type DeploymentJobsSourceConfig = Extract<SourceConfig, { type: "aliyun-deployment-jobs" }>;
export type TlsEndpointsSourceConfig = Extract<SourceConfig, { type: "tls-endpoints" }>;
export type Matcher = z.infer<typeof matcher>;
