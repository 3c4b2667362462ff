/**
 * A warm Lambda container re-reads its config, and the `${ssm:...}` values in it, once the config is older than the
 * TTL: a key rotated in SSM takes effect within minutes, without a redeploy. SSM is the local stand-in (sim/ssm.ts)
 * reached as the AWS SDK reaches any endpoint; the clock is faked (Date only).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CONFIG_TTL_MS, configTtlMs, lambdaRuntime } from "../functions/runtime.js";
import { SsmSim } from "../sim/ssm.js";

const SK_PARAMETER = "/certwatch/prod/hw-sk";
const FIRST = "first-secret-key-0a1b2c3d4e5f";
const ROTATED = "rotated-secret-key-9z8y7x6w5v";
const MINUTE = 60_000;

describe("Lambda: SSM values are refreshed on a short TTL", () => {
  const ssm = new SsmSim(new Map([[SK_PARAMETER, FIRST]]));
  let dir: string;

  beforeAll(async () => {
    const url = await ssm.listen();
    dir = await mkdtemp(join(tmpdir(), "certwatch-ttl-"));
    const file = join(dir, "certwatch.yml");
    await writeFile(
      file,
      `store: { type: dynamodb, endpoint: "http://127.0.0.1:1", region: eu-west-1 }
sources:
  - name: hw
    type: huawei-scm
    endpoint: https://scm.ap-southeast-1.myhuaweicloud.com
    credentials: { accessKey: HWACCESSKEY000000001, secretKey: "\${ssm:${SK_PARAMETER}}" }
receivers: [{ name: hook, type: webhook, url: "https://hooks.example.com/certwatch" }]
`,
    );
    vi.stubEnv("CERTWATCH_CONFIG", file);
    vi.stubEnv("CERTWATCH_CONFIG_PARAMETER", "");
    vi.stubEnv("CERTWATCH_TABLE", "certwatch-test");
    vi.stubEnv("CERTWATCH_CONFIG_TTL_SECONDS", undefined);
    vi.stubEnv("AWS_REGION", "eu-west-1");
    vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIALAMBDAROLE000001");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "lambda-role-secret");
    vi.stubEnv("AWS_SESSION_TOKEN", undefined);
    vi.stubEnv("AWS_ENDPOINT_URL_SSM", url);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-11-22T00:00:00Z"));
  });
  afterAll(async () => {
    vi.useRealTimers();
    vi.unstubAllEnvs();
    await ssm.close();
    await rm(dir, { recursive: true, force: true });
  });

  const secretKey = async () => {
    const runtime = await lambdaRuntime();
    return runtime.config.sources[0]?.credentials.secretKey;
  };
  const reads = () => ssm.requests.filter((request) => request.name === SK_PARAMETER).length;

  it("the TTL is 5 minutes unless CERTWATCH_CONFIG_TTL_SECONDS says otherwise", () => {
    expect(CONFIG_TTL_MS).toBe(5 * MINUTE);
    expect(configTtlMs({})).toBe(5 * MINUTE);
    expect(configTtlMs({ CERTWATCH_CONFIG_TTL_SECONDS: "60" })).toBe(MINUTE);
    expect(configTtlMs({ CERTWATCH_CONFIG_TTL_SECONDS: "0" })).toBe(0);
    expect(configTtlMs({ CERTWATCH_CONFIG_TTL_SECONDS: "soon" })).toBe(5 * MINUTE);
  });

  it("a rotated key takes effect after the TTL, not before; the store and HTTP clients are kept", async () => {
    const first = await lambdaRuntime();
    expect(await secretKey()).toBe(FIRST);
    expect(reads()).toBe(1);

    ssm.parameters.set(SK_PARAMETER, ROTATED);
    vi.setSystemTime(Date.now() + 4 * MINUTE);
    expect(await secretKey()).toBe(FIRST);
    expect(await lambdaRuntime()).toBe(first);
    expect(reads()).toBe(1);

    vi.setSystemTime(Date.now() + MINUTE + 1_000);
    const second = await lambdaRuntime();
    expect(second.config.sources[0]?.credentials.secretKey).toBe(ROTATED);
    expect(reads()).toBe(2);
    expect(second.store).toBe(first.store);
    expect(second.http).toBe(first.http);
    expect(second.logger).toBe(first.logger);
    // The new secret is masked from now on; the store's masking follows the config too.
    expect(second.redact(`echoed ${ROTATED}`)).toBe("echoed ***");

    // Warm again: no more reads until the next TTL.
    vi.setSystemTime(Date.now() + 2 * MINUTE);
    expect(await lambdaRuntime()).toBe(second);
    expect(reads()).toBe(2);
  });

  it("a refresh that fails keeps the config read before, and is tried again on the next invocation", async () => {
    const before = await lambdaRuntime();
    ssm.denied.add(SK_PARAMETER);
    vi.setSystemTime(Date.now() + CONFIG_TTL_MS);
    const kept = await lambdaRuntime();
    expect(kept).toBe(before);
    expect(kept.config.sources[0]?.credentials.secretKey).toBe(ROTATED);
    const failed = reads();

    ssm.denied.delete(SK_PARAMETER);
    ssm.parameters.set(SK_PARAMETER, FIRST);
    expect(await secretKey()).toBe(FIRST);
    expect(reads()).toBe(failed + 1);
  });
});
