import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeRedactor } from "../lib/config/secrets.js";
import { classifyAliyunError } from "../lib/sources/aliyun/client.js";
import {
  ApiError,
  type CallOptions,
  HttpClient,
  MAX_RESPONSE_BYTES,
  newCallStats,
} from "../lib/sources/http.js";
import { classifyHuaweiError } from "../lib/sources/huawei/client.js";
import { type SimAnswer, SimServer, TokenBucket } from "../sim/server.js";

const SECRET = "super-secret-value-123";

/** A server that answers from a script, then 200; it records when each request arrived. */
class Scripted {
  readonly script: SimAnswer[] = [];
  readonly arrivals: number[] = [];
  bucket: TokenBucket | undefined;
  throttled = 0;
  readonly server = new SimServer(
    () => {
      this.arrivals.push(Date.now());
      if (this.bucket && !this.bucket.take()) {
        this.throttled++;
        return { status: 429, body: { error_code: "APIGW.0308", error_msg: "throttled" } };
      }
      return this.script.shift() ?? { status: 200, body: { ok: true } };
    },
    () => ({ status: 500, body: { error_code: "SCM.0001", error_msg: "boom" } }),
  );
}

describe("shared HTTP layer", () => {
  const sim = new Scripted();
  const http = new HttpClient();
  let url: URL;

  beforeAll(async () => {
    url = new URL(await sim.server.listen());
  });
  afterAll(async () => {
    await http.close();
    await sim.server.close();
  });

  function call(
    options: {
      timeoutMs?: number;
      qps?: number;
      scope?: string;
      redact?: (text: string) => string;
      classifyError?: CallOptions["classifyError"];
    } = {},
  ) {
    const stats = newCallStats();
    const limiter = http.limiterFor(options.scope ?? "test", options.qps ?? 100, 4);
    const promise = http.call({
      call: "ListThings",
      limiter,
      stats,
      timeoutMs: options.timeoutMs ?? 2000,
      classifyError: options.classifyError ?? classifyHuaweiError,
      retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 100, maxRetryAfterMs: 5000 },
      redact: options.redact,
      prepare: () => ({ method: "GET", url, headers: { Authorization: `Signature=${SECRET}` } }),
    });
    return { promise, stats };
  }

  it("waits as long as Retry-After asks before retrying a 429", async () => {
    sim.arrivals.length = 0;
    sim.script.push({
      status: 429,
      body: { error_code: "APIGW.0308", error_msg: "throttled" },
      headers: { "retry-after": "1" },
    });
    const { promise, stats } = call();
    expect(await promise).toEqual({ ok: true });
    expect(stats).toEqual({ calls: 2, retries: 1, throttled: 1 });
    const [first, second] = sim.arrivals;
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it("waits as long as Alibaba's x-acs-retry-after (milliseconds) asks, whatever the code, before retrying", async () => {
    sim.arrivals.length = 0;
    sim.script.push({
      status: 503,
      body: { Code: "ServiceUnavailable", Message: "busy", RequestId: "r-7" },
      headers: { "x-acs-retry-after": "1200" },
    });
    const { promise, stats } = call({ classifyError: classifyAliyunError });
    expect(await promise).toEqual({ ok: true });
    expect(stats).toEqual({ calls: 2, retries: 1, throttled: 1 });
    const [first, second] = sim.arrivals;
    // The backoff alone would retry within 20 to 40 ms here.
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(1150);
  });

  it("retries 5xx with backoff and gives up after the last attempt with call, status and vendor code", async () => {
    for (let i = 0; i < 4; i++)
      sim.script.push({ status: 503, body: { error_code: "SCM.0001", error_msg: "busy" } });
    const { promise, stats } = call();
    const error = (await promise.catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.message).toBe("ListThings failed: HTTP 503 SCM.0001 (busy) after 4 attempts");
    expect(error.detail).toMatchObject({ status: 503, code: "SCM.0001", retryable: true, attempts: 4 });
    expect(stats.calls).toBe(4);
    expect(`${error.message} ${JSON.stringify(error)}`).not.toContain(SECRET);
  });

  it("does not retry a client error such as 401", async () => {
    sim.script.push({ status: 401, body: { error_code: "APIGW.0301", error_msg: "bad signature" } });
    const { promise, stats } = call();
    await expect(promise).rejects.toThrow("ListThings failed: HTTP 401 APIGW.0301 (bad signature)");
    expect(stats.calls).toBe(1);
  });

  it("fails at once, as retryable, when Retry-After asks for more than it will wait", async () => {
    sim.script.push({ status: 429, body: {}, headers: { "retry-after": "3600" } });
    const { promise, stats } = call();
    const error = (await promise.catch((e: unknown) => e)) as ApiError;
    expect(error.detail).toMatchObject({ status: 429, retryable: true, attempts: 1 });
    expect(stats.calls).toBe(1);
  });

  it("times out a request that never answers, and retries it", async () => {
    sim.server.inject("hang");
    const { promise, stats } = call({ timeoutMs: 300 });
    expect(await promise).toEqual({ ok: true });
    expect(stats).toMatchObject({ calls: 2, retries: 1 });
  });

  it("reports a timeout clearly when every attempt hangs", async () => {
    sim.server.inject("hang", 4);
    const { promise } = call({ timeoutMs: 200 });
    await expect(promise).rejects.toThrow("ListThings failed: no answer within 200 ms");
  });

  it("reads a gateway's nested {error: {code, message}} and retries APIG.0308 as throttling", async () => {
    sim.script.push({ status: 400, body: { error: { code: "APIG.0308", message: "flow limited" } } });
    const { promise, stats } = call();
    expect(await promise).toEqual({ ok: true });
    expect(stats).toMatchObject({ calls: 2, retries: 1, throttled: 1 });
  });

  it("names the request id from X-Request-Id, else from the body's request_id", async () => {
    sim.script.push({
      status: 401,
      body: { error_code: "APIGW.0301", error_msg: "bad signature", request_id: "body-id" },
      headers: { "X-Request-Id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0" },
    });
    await expect(call().promise).rejects.toThrow(
      "ListThings failed: HTTP 401 APIGW.0301 (bad signature) [request id 0f1e2d3c4b5a69788796a5b4c3d2e1f0]",
    );
    sim.script.push({
      status: 404,
      body: { code: "IIC.404", message: "no such instance", request_id: "r-42" },
    });
    await expect(call().promise).rejects.toThrow(
      "ListThings failed: HTTP 404 IIC.404 (no such instance) [request id r-42]",
    );
  });

  it("says a denial is explained in an encoded authorization message, without pasting a blob only useful whole", async () => {
    const encoded = `eyJ${"A".repeat(4000)}`;
    sim.script.push({
      status: 403,
      body: {
        error_code: "IIC.1000",
        error_msg: `User ${"x".repeat(300)} has no permission`,
        request_id: "r-43",
        encoded_authorization_message: encoded,
      },
    });
    const error = (await call().promise.catch((e: unknown) => e)) as ApiError;
    expect(error.message).toMatch(/^ListThings failed: HTTP 403 IIC\.1000 \(User x+…\) \[request id r-43\]$/);
    expect(error.detail.vendorMessage).toMatch(
      /has no permission; the gateway explains the denial in an encoded_authorization_message \(4003 characters\)$/,
    );
    expect(error.message).not.toContain("eyJA");
  });

  it("masks a secret the vendor echoes before its message is cut short: no part of it survives", async () => {
    // A token long enough to be cut by any length limit, with a quote that JSON escapes in the raw body.
    const token = `MIIT"${"Qk5vdGFSZWFsVG9rZW4".repeat(30)}END`;
    sim.script.push({
      status: 403,
      body: {
        error_code: "IAM.0003",
        error_msg: `Policy does not allow scm:cert:list with security token ${token}`,
        request_id: "r-44",
      },
    });
    const error = (await call({ redact: makeRedactor([token]) }).promise.catch(
      (e: unknown) => e,
    )) as ApiError;
    expect(error.message).toContain("security token ***");
    for (const text of [error.message, error.detail.vendorMessage ?? ""]) {
      expect(text).not.toContain(token.slice(0, 12));
    }
  });

  it("gives one credential one budget: the smallest any of its sources configures, for all of them", () => {
    const first = http.limiterFor("shared-key", 10, 4);
    const second = http.limiterFor("shared-key", 5, 2);
    expect(second).toBe(first);
    expect([first.qps, first.concurrency]).toEqual([5, 2]);
    http.limiterFor("shared-key", 20, 8);
    expect([first.qps, first.concurrency]).toEqual([5, 2]);
  });

  it("paces one credential so that a vendor enforcing its QPS never throttles", async () => {
    sim.bucket = new TokenBucket(20);
    sim.throttled = 0;
    const calls = Array.from({ length: 40 }, () => call({ qps: 20, scope: "paced" }));
    await Promise.all(calls.map((c) => c.promise));
    sim.bucket = undefined;
    expect(sim.throttled).toBe(0);
    expect(calls.reduce((sum, c) => sum + c.stats.throttled, 0)).toBe(0);
  });
});

describe("the response-size cap", () => {
  it("stops reading an answer that passes it, drops the connection, and fails naming the call and the cap", async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    // A server that streams a JSON body without end: only the cap can stop the read before the timeout.
    const endless = createServer((_, res) => {
      res.on("close", closed);
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"certificates": "');
      const chunk = "x".repeat(64 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", pump);
      };
      pump();
    });
    await new Promise<void>((resolve) => endless.listen(0, "127.0.0.1", resolve));
    const http = new HttpClient();
    try {
      const { port } = endless.address() as AddressInfo;
      const stats = newCallStats();
      const started = Date.now();
      const promise = http.call({
        call: "ListThings",
        limiter: http.limiterFor("endless", 100, 4),
        stats,
        timeoutMs: 10_000,
        classifyError: classifyHuaweiError,
        prepare: () => ({ method: "GET", url: new URL(`http://127.0.0.1:${port}/`), headers: {} }),
      });
      await expect(promise).rejects.toThrow(
        `ListThings failed: the answer passed ${MAX_RESPONSE_BYTES.toLocaleString("en-US")} bytes, the most certwatch reads of one response; the request was aborted`,
      );
      expect(stats.calls).toBe(1);
      await connectionClosed;
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await http.close();
      endless.closeAllConnections();
      await new Promise<void>((resolve) => endless.close(() => resolve()));
    }
  });
});
