/**
 * Packages the Lambda deployment with the project's own osls (`serverless package`, no AWS credentials, no
 * network) into a temp dir, once, then checks the CloudFormation template and the three zips it produced:
 * dispatch (schedule → SQS FIFO), sweep (SQS → one source), notify (invoked by the sweep that completes a run,
 * schedule, on demand → deliveries).
 *
 * Every IAM statement of every role is enumerated: a new action, a new resource or a new wildcard fails here.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { inflateRawSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PENDING_INDEX, TTL_ATTRIBUTE, tableDefinition } from "../lib/store/table.js";

const execFileAsync = promisify(execFile);

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const STAGE = "test";
const DISPATCH_SCHEDULE = "cron(0 1 * * ? *)";
const NOTIFY_SCHEDULE = "cron(10 1 * * ? *)";
/**
 * Each zip is a minified handler and its own chunks (~0.6-0.8 MB with the AWS SDK clients and Powertools). 3 MB leaves room to grow
 * and still catches a dependency dragged in by mistake (dynalite and LevelDB alone are several MB).
 */
const MAX_ZIP_BYTES = 3 * 1024 * 1024;
/** A customer managed key passed as a param, so that the conditional kms:Decrypt statement is in the template. */
const KMS_KEY_ARN = "arn:aws:kms:ap-southeast-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/** A config as deployed (secrets as `${ssm:...}`), bundled as the configFile param. */
const CONFIG_FILE = "test/packaging/certwatch.yml";
const FUNCTIONS = ["dispatch", "sweep", "notify"] as const;
type FunctionName = (typeof FUNCTIONS)[number];

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
  [key: string]: unknown;
}
interface Template {
  Resources: Record<string, Resource>;
  Conditions?: Record<string, unknown>;
}

/** The osls CLI of this checkout, run with this Node: no global install, and no npx fallback to the registry. */
function serverlessBin(): string {
  const require = createRequire(import.meta.url);
  const packageJsonPath = require.resolve("osls/package.json");
  const { bin } = JSON.parse(readFileSync(packageJsonPath, "utf8")) as {
    bin: Record<string, string>;
  };
  const relative = bin.serverless;
  if (!relative) throw new Error("osls declares no `serverless` bin");
  return join(dirname(packageJsonPath), relative);
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  localHeaderOffset: number;
}

/** Entries of a zip, from its central directory (no `unzip` needed; no zip64: the archive is small). */
function zipEntries(zip: Buffer): ZipEntry[] {
  const minEnd = Math.max(0, zip.length - 22 - 0xffff);
  let end = -1;
  for (let i = zip.length - 22; i >= minEnd; i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error("not a zip: no end of central directory record");
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error(`bad central directory entry at ${offset}`);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    entries.push({
      name: zip.toString("utf8", offset + 46, offset + 46 + nameLength),
      method: zip.readUInt16LE(offset + 10),
      compressedSize: zip.readUInt32LE(offset + 20),
      localHeaderOffset: zip.readUInt32LE(offset + 42),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function zipEntryContent(zip: Buffer, entry: ZipEntry): Buffer {
  const local = entry.localHeaderOffset;
  if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`bad local header for ${entry.name}`);
  const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return Buffer.from(data);
  if (entry.method === 8) return inflateRawSync(data);
  throw new Error(`unsupported compression method ${entry.method} for ${entry.name}`);
}

function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

const NO_VALUE = { Ref: "AWS::NoValue" };
const isNoValue = (value: unknown) => JSON.stringify(value) === JSON.stringify(NO_VALUE);

/**
 * Evaluates the template's Conditions the way CloudFormation would with these params, then applies every `Fn::If`
 * (dropping `AWS::NoValue`), so that statements are checked as deployed. Only the literal forms this template
 * uses are understood; anything else fails the test rather than being guessed.
 */
function resolveConditions(template: Template): (value: unknown) => unknown {
  const conditions = template.Conditions ?? {};
  const evaluate = (expression: unknown): boolean => {
    const [fn, args] = Object.entries(expression as Json)[0] ?? [];
    if (fn === "Fn::Not") return !evaluate((args as unknown[])[0]);
    if (fn === "Fn::Equals") {
      const [a, b] = args as unknown[];
      if (typeof a !== "string" || typeof b !== "string")
        throw new Error(`unresolved Fn::Equals: ${JSON.stringify(args)}`);
      return a === b;
    }
    if (fn === "Condition") return evaluate(conditions[args as string]);
    throw new Error(`unsupported condition ${JSON.stringify(expression)}`);
  };
  const apply = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(apply).filter((item) => !isNoValue(item));
    if (value === null || typeof value !== "object") return value;
    const fnIf = (value as Json)["Fn::If"];
    if (fnIf) {
      const [name, whenTrue, whenFalse] = fnIf as [string, unknown, unknown];
      if (!(name in conditions)) throw new Error(`Fn::If on unknown condition ${name}`);
      return apply(evaluate(conditions[name]) ? whenTrue : whenFalse);
    }
    return Object.fromEntries(
      Object.entries(value as Json)
        .map(([key, inner]) => [key, apply(inner)] as const)
        .filter(([, inner]) => !isNoValue(inner)),
    );
  };
  return apply;
}

/** A statement in a canonical form: actions sorted, resources as a list, so that order does not matter. */
function canonical(statement: Statement): string {
  const sortKeys = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
      Object.keys(value as Json)
        .sort()
        .map((key) => [key, sortKeys((value as Json)[key])]),
    );
  };
  return JSON.stringify(
    sortKeys({
      ...statement,
      Action: asArray(statement.Action).slice().sort(),
      Resource: asArray(statement.Resource),
    }),
  );
}

const getAtt = (id: string, attribute = "Arn") => ({ "Fn::GetAtt": [id, attribute] });

describe("serverless package", () => {
  let workDir: string;
  let packageDir: string;
  let template: Template;
  let resources: Record<string, Resource>;
  let resolved: (value: unknown) => unknown;

  const ofType = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);

  const only = (type: string): [string, Resource] => {
    const found = ofType(type);
    expect(found, type).toHaveLength(1);
    return found[0] as [string, Resource];
  };

  const lambda = (name: FunctionName): [string, Resource] => {
    const found = ofType("AWS::Lambda::Function").filter(
      ([, fn]) => fn.Properties.Handler === `functions/${name}.handler`,
    );
    expect(found, name).toHaveLength(1);
    return found[0] as [string, Resource];
  };

  const queues = () => {
    const all = ofType("AWS::SQS::Queue");
    expect(all).toHaveLength(2);
    const main = all.filter(([, queue]) => queue.Properties.RedrivePolicy !== undefined);
    const dead = all.filter(([, queue]) => queue.Properties.RedrivePolicy === undefined);
    expect(main).toHaveLength(1);
    expect(dead).toHaveLength(1);
    return { main: main[0] as [string, Resource], dead: dead[0] as [string, Resource] };
  };

  const tableId = () => only("AWS::DynamoDB::Table")[0];

  /** `serverless package` into `dir` with these params; resolves to its exit status and output either way. */
  const packageInto = async (dir: string, params: string[]) => {
    // serverless-esbuild zips through a dir under os.tmpdir() and fails to remove it (non-recursive remove,
    // error swallowed): point the child's temp dir inside ours so nothing is left behind.
    const childTmp = join(workDir, "tmp");
    await mkdir(childTmp, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TMPDIR: childTmp,
      TMP: childTmp,
      TEMP: childTmp,
      // osls has no telemetry, dashboard or update checks; these keep an upstream `serverless` quiet too.
      SLS_TELEMETRY_DISABLED: "1",
      SLS_NOTIFICATIONS_MODE: "off",
    };
    const args = [
      serverlessBin(),
      "package",
      "--stage",
      STAGE,
      "--package",
      dir,
      ...params.map((p) => `--param=${p}`),
    ];
    try {
      // A build error has been seen to leave serverless-esbuild waiting forever: fail instead.
      const { stdout, stderr } = await execFileAsync(process.execPath, args, {
        cwd: ROOT,
        env,
        maxBuffer: 16 * 1024 * 1024,
        timeout: 200_000,
        killSignal: "SIGKILL",
      });
      return { code: 0, output: `${stdout}\n${stderr}` };
    } catch (error) {
      const failed = error as Error & { code?: number; stdout?: string; stderr?: string };
      return {
        code: failed.code ?? 1,
        output: `${failed.message}\n${failed.stdout ?? ""}\n${failed.stderr ?? ""}`,
      };
    }
  };

  /** Packaging a missing and an invalid config: started beside the real package, checked below. */
  let refusals: Promise<{ code: number; output: string }[]>;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "certwatch-package-"));
    packageDir = join(workDir, "package");
    const invalid = join(workDir, "invalid.yml");
    await writeFile(
      invalid,
      (await readFile(join(ROOT, CONFIG_FILE), "utf8")).replace(
        "    domainId:",
        "    retries: 3\n    domainId:",
      ),
    );
    refusals = Promise.all(
      [invalid, join(workDir, "missing.yml")].map((file, n) =>
        packageInto(join(workDir, `refused-${n}`), [`configFile=${file}`]),
      ),
    );
    const packaged = await packageInto(packageDir, [`kmsKeyArn=${KMS_KEY_ARN}`, `configFile=${CONFIG_FILE}`]);
    if (packaged.code !== 0) throw new Error(`serverless package failed: ${packaged.output}`);
    template = JSON.parse(
      await readFile(join(packageDir, "cloudformation-template-update-stack.json"), "utf8"),
    ) as Template;
    resources = template.Resources;
    resolved = resolveConditions(template);
  }, 240_000);

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("refuses a missing or invalid config before building anything, with validate's messages", async () => {
    const [invalid, missing] = await refusals;
    expect(invalid?.code).not.toBe(0);
    expect(invalid?.output).toContain("invalid.yml: invalid config");
    expect(invalid?.output).toContain("sources[0].retries: unknown key");
    expect(missing?.code).not.toBe(0);
    expect(missing?.output).toContain("missing.yml: invalid config");
    expect(missing?.output).toContain("cannot read config: no such file");
    for (const n of [0, 1]) expect(existsSync(join(workDir, `refused-${n}`)), `refused-${n}`).toBe(false);
  });

  describe("functions", () => {
    it("defines exactly dispatch, sweep and notify, on nodejs22.x, arm64", () => {
      expect(ofType("AWS::Lambda::Function")).toHaveLength(3);
      const timeouts: Record<FunctionName, number> = { dispatch: 60, sweep: 600, notify: 900 };
      const memory: Record<FunctionName, number> = { dispatch: 256, sweep: 512, notify: 512 };
      for (const name of FUNCTIONS) {
        const [, fn] = lambda(name);
        expect(fn.Properties.Runtime, name).toBe("nodejs22.x");
        expect(fn.Properties.Architectures, name).toEqual(["arm64"]);
        expect(fn.Properties.Timeout, name).toBe(timeouts[name]);
        // The sweep's is set from the bench (serverless.yml): a 100,000-object first sweep peaks at 244 to 249 MB.
        expect(fn.Properties.MemorySize, name).toBe(memory[name]);
        expect(fn.Properties.FunctionName, name).toBe(`certwatch-${STAGE}-${name}`);
      }
    });

    it("gives each function the config, table and Powertools settings, and no secret", () => {
      const { main } = queues();
      const [notifyId] = lambda("notify");
      for (const name of FUNCTIONS) {
        const [, fn] = lambda(name);
        const variables = (fn.Properties.Environment as { Variables: Json }).Variables;
        expect(variables, name).toEqual({
          CERTWATCH_TABLE: { Ref: tableId() },
          CERTWATCH_CONFIG: CONFIG_FILE,
          CERTWATCH_CONFIG_PARAMETER: "",
          POWERTOOLS_SERVICE_NAME: "certwatch",
          POWERTOOLS_METRICS_NAMESPACE: "certwatch",
          ...(name === "dispatch" ? { CERTWATCH_QUEUE_URL: { Ref: main[0] } } : {}),
          // The sweep that completes a run invokes notify by name, and a sweep in parts queues its next part.
          ...(name === "sweep"
            ? { CERTWATCH_NOTIFY_FUNCTION: { Ref: notifyId }, CERTWATCH_QUEUE_URL: { Ref: main[0] } }
            : {}),
        });
      }
    });

    it("keeps each function's logs for 30 days", () => {
      const logGroups = ofType("AWS::Logs::LogGroup").map(([, group]) => group.Properties);
      expect(logGroups).toHaveLength(3);
      for (const name of FUNCTIONS) {
        const [, fn] = lambda(name);
        expect(logGroups).toContainEqual({
          LogGroupName: `/aws/lambda/${String(fn.Properties.FunctionName)}`,
          RetentionInDays: 30,
        });
      }
    });
  });

  describe("triggers", () => {
    const rulesFor = (name: FunctionName) => {
      const [id] = lambda(name);
      return ofType("AWS::Events::Rule").filter(([, rule]) =>
        asArray(rule.Properties.Targets as Json[]).some(
          (target) => JSON.stringify(target.Arn) === JSON.stringify(getAtt(id)),
        ),
      );
    };

    it("runs dispatch and, ten minutes later, notify on their schedules; sweep on no schedule", () => {
      expect(ofType("AWS::Events::Rule")).toHaveLength(2);
      const expected: [FunctionName, string][] = [
        ["dispatch", DISPATCH_SCHEDULE],
        ["notify", NOTIFY_SCHEDULE],
      ];
      for (const [name, schedule] of expected) {
        const rules = rulesFor(name);
        expect(rules, name).toHaveLength(1);
        const [, rule] = rules[0] as [string, Resource];
        expect(rule.Properties.ScheduleExpression, name).toBe(schedule);
        expect(rule.Properties.State, name).toBe("ENABLED");
      }
      expect(rulesFor("sweep")).toEqual([]);
    });

    it("feeds sweep from the FIFO queue one message at a time, with partial batch failures", () => {
      const [, mapping] = only("AWS::Lambda::EventSourceMapping");
      const [sweepId] = lambda("sweep");
      const { main } = queues();
      expect(mapping.Properties).toEqual({
        BatchSize: 1,
        EventSourceArn: getAtt(main[0]),
        FunctionName: getAtt(sweepId),
        Enabled: true,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      });
    });
  });

  describe("queues and alarm", () => {
    it("queues sweeps on a FIFO queue whose visibility timeout is 6x the sweep timeout", () => {
      const { main, dead } = queues();
      const [, queue] = main;
      const [, sweep] = lambda("sweep");
      expect(queue.Properties.FifoQueue).toBe(true);
      expect(queue.Properties.ContentBasedDeduplication).toBe(false);
      expect(queue.Properties.QueueName).toBe(`certwatch-${STAGE}-sweep.fifo`);
      expect(queue.Properties.VisibilityTimeout).toBe(6 * (sweep.Properties.Timeout as number));
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      expect(queue.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: getAtt(dead[0]),
        maxReceiveCount: 3,
      });
    });

    it("dead-letters into a FIFO queue kept for 14 days", () => {
      const [, dead] = queues().dead;
      expect(dead.Properties).toEqual({
        QueueName: `certwatch-${STAGE}-sweep-dlq.fifo`,
        FifoQueue: true,
        ContentBasedDeduplication: false,
        MessageRetentionPeriod: 14 * 86_400,
        SqsManagedSseEnabled: true,
      });
    });

    it("alarms as soon as a message is in the dead-letter queue", () => {
      const [, alarm] = only("AWS::CloudWatch::Alarm");
      const [deadId] = queues().dead;
      const props = resolved(alarm.Properties) as Json;
      expect(props).toMatchObject({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [{ Name: "QueueName", Value: getAtt(deadId, "QueueName") }],
        Statistic: "Maximum",
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "notBreaching",
      });
      // No alarmTopicArn param: no actions (rather than an empty ARN).
      expect(props.AlarmActions).toBeUndefined();
      expect(props.OKActions).toBeUndefined();
    });
  });

  it("creates the table of lib/store/table.ts, with TTL, PITR, SSE, and kept on stack removal", () => {
    const [, { Properties: props, DeletionPolicy, UpdateReplacePolicy }] = only("AWS::DynamoDB::Table");
    const expected = tableDefinition("unused");
    expect(props.BillingMode).toBe("PAY_PER_REQUEST");
    expect(props.KeySchema).toEqual([
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ]);
    expect(props.KeySchema).toEqual(expected.KeySchema);
    expect(props.AttributeDefinitions).toEqual(expect.arrayContaining(expected.AttributeDefinitions ?? []));
    expect(props.AttributeDefinitions).toHaveLength(expected.AttributeDefinitions?.length ?? 0);
    expect(props.BillingMode).toBe(expected.BillingMode);

    const indexes = props.GlobalSecondaryIndexes as Json[];
    expect(indexes).toEqual([
      {
        IndexName: "pending",
        KeySchema: [
          { AttributeName: "pendingFor", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "ALL" },
      },
    ]);
    expect(indexes).toEqual(expected.GlobalSecondaryIndexes);
    expect(indexes[0]?.IndexName).toBe(PENDING_INDEX);

    expect(props.TimeToLiveSpecification).toEqual({ AttributeName: "expiresAt", Enabled: true });
    expect(TTL_ATTRIBUTE).toBe("expiresAt");
    expect(props.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(props.SSESpecification).toEqual({ SSEEnabled: true });
    expect(DeletionPolicy).toBe("Retain");
    expect(UpdateReplacePolicy).toBe("Retain");
  });

  describe("IAM", () => {
    const ssmPath = {
      "Fn::Sub": `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/certwatch/${STAGE}/*`,
    };
    const sesIdentity = {
      "Fn::Sub": "arn:${AWS::Partition}:ses:ap-southeast-1:${AWS::AccountId}:identity/*",
    };
    const sesConfigurationSet = {
      "Fn::Sub": "arn:${AWS::Partition}:ses:ap-southeast-1:${AWS::AccountId}:configuration-set/*",
    };
    /**
     * The only resources that may hold a `*`, each a prefix bounded by account and region: the SSM parameter
     * path, and SES identities/configuration sets (narrowed with the sesIdentity/sesConfigurationSet params).
     * Log group Arns (which end in `:*`) come from Fn::GetAtt and are checked by name.
     */
    const ALLOWED_WILDCARDS = [ssmPath, sesIdentity, sesConfigurationSet].map((r) => JSON.stringify(r));

    const roleOf = (name: FunctionName): [string, Resource] => {
      const [, fn] = lambda(name);
      const role = fn.Properties.Role as { "Fn::GetAtt": [string, string] };
      const [roleId, attribute] = role["Fn::GetAtt"];
      expect(attribute).toBe("Arn");
      const resource = resources[roleId];
      if (!resource) throw new Error(`${name}: role ${roleId} is not in the template`);
      expect(resource.Type).toBe("AWS::IAM::Role");
      return [roleId, resource];
    };

    const statementsOf = (name: FunctionName): Statement[] => {
      const [, role] = roleOf(name);
      const policies = resolved(role.Properties.Policies) as {
        PolicyDocument: { Statement: Statement[] };
      }[];
      return policies.flatMap((policy) => asArray(policy.PolicyDocument.Statement));
    };

    const expectedStatements = (name: FunctionName): Statement[] => {
      const [queueId] = queues().main;
      const [notifyId] = lambda("notify");
      const table = getAtt(tableId());
      const common: Statement[] = [
        {
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: [getAtt(`${name[0]?.toUpperCase()}${name.slice(1)}LogGroup`)],
        },
        { Effect: "Allow", Action: ["ssm:GetParameter", "ssm:GetParameters"], Resource: [ssmPath] },
        {
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: [KMS_KEY_ARN],
          Condition: {
            StringEquals: { "kms:ViaService": { "Fn::Sub": "ssm.${AWS::Region}.amazonaws.com" } },
          },
        },
      ];
      // Sweep and notify both read and write the table, in batches too (objects, news batches), and delete.
      const readAndWrite = [
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
      ];
      const own: Record<FunctionName, Statement[]> = {
        dispatch: [
          { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [getAtt(queueId)] },
          {
            Effect: "Allow",
            Action: ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
            Resource: [table],
          },
        ],
        sweep: [
          {
            Effect: "Allow",
            Action: [
              "sqs:ChangeMessageVisibility",
              "sqs:DeleteMessage",
              "sqs:GetQueueAttributes",
              "sqs:ReceiveMessage",
            ],
            Resource: [getAtt(queueId)],
          },
          { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [getAtt(queueId)] },
          {
            Effect: "Allow",
            Action: readAndWrite,
            Resource: [table],
          },
          { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [getAtt(notifyId)] },
        ],
        notify: [
          {
            Effect: "Allow",
            Action: readAndWrite,
            Resource: [table],
          },
          {
            Effect: "Allow",
            Action: ["dynamodb:Query", "dynamodb:Scan"],
            Resource: [{ "Fn::Join": ["/", [table, "index", PENDING_INDEX]] }],
          },
          { Effect: "Allow", Action: ["ses:SendEmail"], Resource: [sesIdentity, sesConfigurationSet] },
        ],
      };
      return [...common, ...own[name]];
    };

    it("gives each function a role of its own, assumable by Lambda only, with no managed policy", () => {
      expect(ofType("AWS::IAM::Role")).toHaveLength(3);
      expect(ofType("AWS::IAM::Policy")).toEqual([]);
      expect(ofType("AWS::IAM::ManagedPolicy")).toEqual([]);
      const roleIds = FUNCTIONS.map((name) => roleOf(name)[0]);
      expect(new Set(roleIds).size).toBe(3);
      for (const name of FUNCTIONS) {
        const [, role] = roleOf(name);
        expect(Object.keys(role.Properties).sort(), name).toEqual(["AssumeRolePolicyDocument", "Policies"]);
        expect(role.Properties.AssumeRolePolicyDocument, name).toEqual({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        });
      }
    });

    for (const name of FUNCTIONS) {
      it(`grants ${name} exactly its actions on exactly its resources`, () => {
        const actual = statementsOf(name).map(canonical).sort();
        const expected = expectedStatements(name).map(canonical).sort();
        expect(actual).toEqual(expected);
      });
    }

    it("writes each function's logs to its own log group only", () => {
      for (const name of FUNCTIONS) {
        const [, fn] = lambda(name);
        const logs = statementsOf(name).filter((s) => asArray(s.Action).some((a) => a.startsWith("logs:")));
        expect(logs, name).toHaveLength(1);
        const [target] = asArray(logs[0]?.Resource) as { "Fn::GetAtt": [string, string] }[];
        const group = resources[target?.["Fn::GetAtt"][0] ?? ""];
        expect(group?.Type, name).toBe("AWS::Logs::LogGroup");
        expect(group?.Properties.LogGroupName, name).toBe(
          `/aws/lambda/${String(fn.Properties.FunctionName)}`,
        );
      }
    });

    it("allows nothing on a wildcard: no `*` resource or action beyond the bounded prefixes", () => {
      for (const name of FUNCTIONS) {
        for (const statement of statementsOf(name)) {
          expect(Object.keys(statement).sort(), name).toEqual(
            statement.Condition === undefined
              ? ["Action", "Effect", "Resource"]
              : ["Action", "Condition", "Effect", "Resource"],
          );
          expect(statement.Effect).toBe("Allow");
          for (const action of asArray(statement.Action)) expect(action, name).not.toContain("*");
          const targets = asArray(statement.Resource);
          expect(targets.length, name).toBeGreaterThan(0);
          for (const target of targets) {
            expect(target, name).not.toBe("*");
            expect(target, name).not.toBe("");
            const text = JSON.stringify(target);
            if (text.includes("*")) expect(ALLOWED_WILDCARDS, `${name}: ${text}`).toContain(text);
          }
        }
      }
      // No cloudwatch:PutMetricData: Powertools writes metrics as EMF log lines.
      const all = FUNCTIONS.flatMap((name) => statementsOf(name).flatMap((s) => asArray(s.Action)));
      expect(all.filter((action) => action.startsWith("cloudwatch:"))).toEqual([]);
    });

    it("grants kms:Decrypt only when a customer managed key is given", () => {
      expect(template.Conditions?.HasKmsKey).toEqual({ "Fn::Not": [{ "Fn::Equals": [KMS_KEY_ARN, ""] }] });
      // With the default (empty) kmsKeyArn the same template drops the statement.
      const withoutKey = resolveConditions({
        ...template,
        Conditions: { ...template.Conditions, HasKmsKey: { "Fn::Not": [{ "Fn::Equals": ["", ""] }] } },
      });
      for (const name of FUNCTIONS) {
        const [, role] = roleOf(name);
        const statements = (
          withoutKey(role.Properties.Policies) as { PolicyDocument: { Statement: Statement[] } }[]
        ).flatMap((policy) => policy.PolicyDocument.Statement);
        expect(
          statements.flatMap((s) => asArray(s.Action)).filter((a) => a.startsWith("kms:")),
          name,
        ).toEqual([]);
        expect(statements, name).toHaveLength(expectedStatements(name).length - 1);
      }
    });
  });

  describe.each(FUNCTIONS)("the %s zip", (name) => {
    let zip: Buffer;
    let entries: ZipEntry[];
    const file = `functions/${name}.mjs`;

    beforeAll(async () => {
      const [, fn] = lambda(name);
      const key = (fn.Properties.Code as { S3Key: string }).S3Key;
      expect(basename(key)).toBe(`${name}.zip`);
      const path = join(packageDir, basename(key));
      expect((await stat(path)).isFile()).toBe(true);
      zip = await readFile(path);
      entries = zipEntries(zip);
    });

    it("is under 3 MB and holds the handler and the config", () => {
      expect(zip.length).toBeLessThan(MAX_ZIP_BYTES);
      expect(entries.map((e) => e.name)).toContain(file);
      expect(entries.map((e) => e.name)).toContain(CONFIG_FILE);
    });

    it("carries neither dynalite nor LevelDB, nor any node_modules", () => {
      const names = entries.map((e) => e.name);
      expect(names.filter((entry) => entry.includes("dynalite"))).toEqual([]);
      expect(names.filter((entry) => entry.includes("classic-level"))).toEqual([]);
      expect(names.filter((entry) => /(^|\/)node_modules\//.test(entry))).toEqual([]);
    });

    it("loads the handler without dynalite or any node_modules, and reports size and init time", async () => {
      const entry = entries.find((e) => e.name === file);
      if (!entry) throw new Error(`${file} is not in the zip`);
      // Outside the repo, so no node_modules up the tree; the handler is an ES module (.mjs) with its chunks
      // beside it, laid out as in the zip. A fresh process, so the import is a cold start of the module.
      const dir = await mkdtemp(join(tmpdir(), "certwatch-lambda-"));
      try {
        const code = entries.filter((e) => e.name.startsWith("functions/") && e.name.endsWith(".mjs"));
        for (const each of code) {
          await mkdir(dirname(join(dir, each.name)), { recursive: true });
          await writeFile(join(dir, each.name), zipEntryContent(zip, each));
        }
        const path = join(dir, file);
        const bundle = zipEntryContent(zip, entry);
        const probe = [
          `const started = process.hrtime.bigint();`,
          `const module = await import(${JSON.stringify(new URL(`file://${path}`).href)});`,
          `const ms = Number(process.hrtime.bigint() - started) / 1e6;`,
          `process.stdout.write(JSON.stringify({ type: typeof (module.handler ?? module.default?.handler), ms }));`,
        ].join("\n");
        const { stdout } = await execFileAsync(process.execPath, ["--input-type=module", "-e", probe], {
          cwd: dir,
          env: { PATH: process.env.PATH ?? "", NODE_PATH: "", AWS_REGION: "ap-southeast-1" },
        });
        const result = JSON.parse(stdout) as { type: string; ms: number };
        expect(result.type).toBe("function");
        console.log(
          `${name}: zip ${zip.length} bytes (${(zip.length / 1024).toFixed(0)} KiB), ` +
            `handler ${bundle.length} bytes and ${code.length - 1} chunks unzipped, handler import ${result.ms.toFixed(1)} ms`,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
