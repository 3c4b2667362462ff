import { z } from "zod";
import { OFFSET_PATTERN, parseDuration } from "../model/time.js";

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]", "::1"]);

function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** https:// everywhere; http:// only on loopback, where simulators and tests stand in for the clouds. */
const endpoint = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: "custom", message: `not a URL: ${text}` });
    return;
  }
  if (url.protocol === "https:") return;
  if (url.protocol === "http:" && isLoopback(url.hostname)) return;
  ctx.addIssue({ code: "custom", message: "must start with https:// (http:// is allowed only on loopback)" });
});

const duration = z.string().refine((text) => parseDuration(text) !== undefined, {
  message: "a duration such as 90s, 15m, 24h or 7d",
});

/** Either an AK/SK pair (with an optional STS token) or a ready-made token. */
const credentials = z
  .strictObject({
    accessKey: z.string().min(1).optional(),
    secretKey: z.string().min(1).optional(),
    securityToken: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.token !== undefined) return;
    for (const key of ["accessKey", "secretKey"] as const) {
      if (value[key] === undefined) ctx.addIssue({ code: "custom", path: [key], message: "required" });
    }
  });

const sourceCommon = {
  name: z.string().regex(/^[a-z0-9-]+$/, "lowercase letters, digits and dashes only"),
  endpoint,
  credentials,
  labels: z.record(z.string(), z.string()).optional(),
  /** Calls per second allowed for this source's credential; sources sharing a credential share it. */
  qps: z.number().positive().optional(),
  /** Requests in flight at once for this source's credential. */
  concurrency: z.number().int().positive().max(64).optional(),
  timeout: duration.optional(),
};

const huaweiScm = z.strictObject({
  ...sourceCommon,
  type: z.literal("huawei-scm"),
  /** SCM's expire_time has no zone; Huawei's console shows China Standard Time. */
  timezone: z.string().regex(OFFSET_PATTERN, "a fixed offset such as +08:00 or Z").default("+08:00"),
  projectId: z.string().min(1).optional(),
  region: z.string().min(1).optional(),
});

const source = z.discriminatedUnion("type", [huaweiScm]);

const matcher = z.strictObject({
  severity: z.enum(["critical", "warning", "info"]).optional(),
  source: z.string().optional(),
  provider: z.string().optional(),
  kind: z.string().optional(),
  domain: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

const slackReceiver = z.strictObject({
  name: z.string().min(1),
  type: z.literal("slack"),
  webhookUrl: endpoint,
});

const emailReceiver = z.strictObject({
  name: z.string().min(1),
  type: z.literal("email"),
  from: z.string().min(3),
  to: z.array(z.string().min(3)).min(1),
  subjectPrefix: z.string().default("[certwatch]"),
  smtp: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().positive().default(587),
    secure: z.boolean().default(false),
    user: z.string().optional(),
    pass: z.string().optional(),
  }),
});

const receiver = z.discriminatedUnion("type", [slackReceiver, emailReceiver]);

export const configSchema = z
  .strictObject({
    store: z
      .strictObject({
        type: z.enum(["embedded", "dynamodb"]).default("embedded"),
        path: z.string().min(1).default(".certwatch"),
        table: z.string().min(3).default("certwatch"),
        region: z.string().optional(),
        endpoint: z.string().url().optional(),
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
      })
      .prefault({}),
    receivers: z.array(receiver).default([]),
    routes: z
      .array(
        z.strictObject({
          match: matcher.default({}),
          receivers: z.array(z.string()).min(1),
          continue: z.boolean().default(false),
        }),
      )
      .optional(),
    defaultReceivers: z.array(z.string()).optional(),
    silences: z
      .array(
        z.strictObject({
          match: matcher,
          until: z.iso.datetime({ offset: true }),
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
    unique(
      config.receivers.map((r) => r.name),
      "receivers",
    );
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
  });

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = Config["sources"][number];
export type ReceiverConfig = Config["receivers"][number];
export type SlackReceiverConfig = Extract<ReceiverConfig, { type: "slack" }>;
export type EmailReceiverConfig = Extract<ReceiverConfig, { type: "email" }>;
export type AlertsConfig = Config["alerts"];
export type Matcher = z.infer<typeof matcher>;
