/**
 * Packages the Lambda deployment with the project's own osls (`serverless package`, no AWS credentials, no
 * network) into a temp dir, then checks the CloudFormation template and the zip it produced.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
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
const HANDLER = "functions/sweep.handler";
const SCHEDULE = "cron(0 1 * * ? *)";
const MAX_ZIP_BYTES = 10 * 1024 * 1024;
const EXPECTED_DYNAMODB_ACTIONS = [
  "dynamodb:BatchWriteItem",
  "dynamodb:PutItem",
  "dynamodb:Query",
  "dynamodb:UpdateItem",
];

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
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

describe("serverless package", () => {
  let workDir: string;
  let packageDir: string;
  let resources: Record<string, Resource>;

  const ofType = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);

  const sweepFunction = () => {
    const found = ofType("AWS::Lambda::Function").filter(([, fn]) => fn.Properties.Handler === HANDLER);
    expect(found).toHaveLength(1);
    return found[0] as [string, Resource];
  };

  const table = () => {
    const found = ofType("AWS::DynamoDB::Table");
    expect(found).toHaveLength(1);
    return (found[0] as [string, Resource])[1];
  };

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "certwatch-package-"));
    packageDir = join(workDir, "package");
    // serverless-esbuild zips through a dir under os.tmpdir() and fails to remove it (non-recursive remove,
    // error swallowed): point the child's temp dir inside ours so nothing is left behind.
    const childTmp = join(workDir, "tmp");
    await mkdir(childTmp);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TMPDIR: childTmp,
      TMP: childTmp,
      TEMP: childTmp,
      // osls has no telemetry, dashboard or update checks; these keep an upstream `serverless` quiet too.
      SLS_TELEMETRY_DISABLED: "1",
      SLS_NOTIFICATIONS_MODE: "off",
    };
    try {
      await execFileAsync(
        process.execPath,
        [serverlessBin(), "package", "--stage", "test", "--package", packageDir],
        { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (error) {
      const failed = error as Error & { stdout?: string; stderr?: string };
      throw new Error(
        `serverless package failed: ${failed.message}\n${failed.stdout ?? ""}\n${failed.stderr ?? ""}`,
        { cause: error },
      );
    }
    const template = JSON.parse(
      await readFile(join(packageDir, "cloudformation-template-update-stack.json"), "utf8"),
    ) as { Resources: Record<string, Resource> };
    resources = template.Resources;
  }, 240_000);

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("defines the sweep function on nodejs22.x, arm64", () => {
    const [, fn] = sweepFunction();
    expect(fn.Properties.Runtime).toBe("nodejs22.x");
    expect(fn.Properties.Architectures).toEqual(["arm64"]);
    expect(fn.Properties.Timeout).toBe(900);
    expect(fn.Properties.MemorySize).toBe(512);
    const variables = (fn.Properties.Environment as { Variables: Json }).Variables;
    const [tableId] = ofType("AWS::DynamoDB::Table")[0] ?? [];
    expect(variables.CERTWATCH_TABLE).toEqual({ Ref: tableId });
    expect(variables.CERTWATCH_CONFIG).toBe("certwatch.yml");
  });

  it("keeps the function's logs for 30 days", () => {
    const [, fn] = sweepFunction();
    const logGroups = ofType("AWS::Logs::LogGroup").map(([, group]) => group.Properties);
    expect(logGroups).toContainEqual(
      expect.objectContaining({
        LogGroupName: `/aws/lambda/${String(fn.Properties.FunctionName)}`,
        RetentionInDays: 30,
      }),
    );
  });

  it("runs the sweep on the configured schedule", () => {
    const [id] = sweepFunction();
    const rules = ofType("AWS::Events::Rule").filter(([, rule]) =>
      asArray(rule.Properties.Targets as Json[]).some(
        (target) => JSON.stringify(target.Arn) === JSON.stringify({ "Fn::GetAtt": [id, "Arn"] }),
      ),
    );
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0] as [string, Resource];
    expect(rule.Properties.ScheduleExpression).toBe(SCHEDULE);
    expect(rule.Properties.State).toBe("ENABLED");
  });

  it("creates the table of lib/store/table.ts, with TTL, PITR, SSE, and kept on stack removal", () => {
    const { Properties: props, DeletionPolicy, UpdateReplacePolicy } = table();
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

  it("grants exactly the DynamoDB actions the store uses, never on a wildcard resource", () => {
    const statements = ofType("AWS::IAM::Role").flatMap(([, role]) =>
      asArray(
        role.Properties.Policies as { PolicyDocument: { Statement: Statement | Statement[] } }[],
      ).flatMap((policy) => asArray(policy.PolicyDocument.Statement)),
    );
    const dynamo = statements.filter((s) =>
      asArray(s.Action).some((action) => action.startsWith("dynamodb:")),
    );
    expect(dynamo.length).toBeGreaterThan(0);

    const actions = new Set(dynamo.flatMap((s) => asArray(s.Action)));
    expect([...actions].sort()).toEqual(EXPECTED_DYNAMODB_ACTIONS);

    for (const statement of dynamo) {
      expect(statement.Effect).toBe("Allow");
      const targets = asArray(statement.Resource);
      expect(targets.length).toBeGreaterThan(0);
      for (const target of targets) {
        // Intrinsic functions (Fn::GetAtt, Fn::Join, Fn::Sub) are fine; a literal wildcard is not.
        if (typeof target === "string") {
          expect(target).not.toBe("*");
          expect(target.endsWith(":*")).toBe(false);
          expect(target).not.toMatch(/:table\/\*$/);
        } else {
          const text = JSON.stringify(target);
          expect(text).not.toMatch(/"\*"/);
          expect(text).not.toMatch(/:\*"/);
          expect(text).not.toMatch(/table\/\*"/);
        }
      }
    }
    const [tableId] = ofType("AWS::DynamoDB::Table")[0] ?? [];
    const resourcesText = JSON.stringify(dynamo.map((s) => s.Resource));
    expect(resourcesText).toContain(JSON.stringify({ "Fn::GetAtt": [tableId, "Arn"] }));
    expect(resourcesText).toContain(`"index","${PENDING_INDEX}"`);
  });

  describe("the function's zip", () => {
    let zip: Buffer;
    let entries: ZipEntry[];

    beforeAll(async () => {
      const [, fn] = sweepFunction();
      const key = (fn.Properties.Code as { S3Key: string }).S3Key;
      const path = join(packageDir, basename(key));
      const { size } = await stat(path);
      expect(size).toBeLessThan(MAX_ZIP_BYTES);
      zip = await readFile(path);
      entries = zipEntries(zip);
    });

    it("is under 10 MB and holds the handler", () => {
      expect(zip.length).toBeLessThan(MAX_ZIP_BYTES);
      expect(entries.map((e) => e.name)).toContain("functions/sweep.js");
    });

    it("carries neither dynalite nor LevelDB", () => {
      const names = entries.map((e) => e.name);
      expect(names.filter((name) => name.includes("dynalite"))).toEqual([]);
      expect(names.filter((name) => name.includes("node_modules/classic-level"))).toEqual([]);
      expect(names.filter((name) => /(^|\/)node_modules\//.test(name))).toEqual([]);
    });

    it("loads the handler without dynalite or any node_modules", async () => {
      const entry = entries.find((e) => e.name === "functions/sweep.js");
      if (!entry) throw new Error("functions/sweep.js is not in the zip");
      // Outside the repo, so no node_modules up the tree; a .js file with no package.json loads as CommonJS,
      // as on Lambda.
      const dir = await mkdtemp(join(tmpdir(), "certwatch-lambda-"));
      try {
        const file = join(dir, "sweep.js");
        await writeFile(file, zipEntryContent(zip, entry));
        const { stdout } = await execFileAsync(
          process.execPath,
          ["-e", `process.stdout.write(typeof require(${JSON.stringify(file)}).handler)`],
          { cwd: dir, env: { PATH: process.env.PATH ?? "", NODE_PATH: "" } },
        );
        expect(stdout).toBe("function");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
