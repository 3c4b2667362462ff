import { setTimeout as sleep } from "node:timers/promises";
import { Agent, type Dispatcher, request } from "undici";
import { fit, oneLine } from "../model/text.js";
import { retryAfterMs } from "../model/time.js";

/** A failed vendor call. Carries what an operator needs (call, status, vendor code) and never a credential. */
export class ApiError extends Error {
  constructor(
    readonly call: string,
    readonly detail: {
      status?: number;
      code?: string;
      vendorMessage?: string;
      requestId?: string;
      retryable: boolean;
      attempts: number;
      /** A write that got no clear answer (timeout, network error, 5xx): it may have taken effect. */
      outcomeUnknown?: boolean;
      /** No answer at all: the host asked, and the network error's code (`ENOTFOUND`...) or `timeout`. */
      unreachable?: { host: string; code: string };
    },
    message?: string,
  ) {
    // The request id is what the vendor's support asks for first.
    const parts = [
      detail.status !== undefined ? `HTTP ${detail.status}` : undefined,
      detail.code,
      detail.vendorMessage ? `(${fit(oneLine(detail.vendorMessage), 200)})` : undefined,
      detail.requestId ? `[request id ${fit(oneLine(detail.requestId), 100)}]` : undefined,
    ].filter(Boolean);
    const tries = detail.attempts > 1 ? ` after ${detail.attempts} attempts` : "";
    super(message ?? `${call} failed: ${parts.join(" ")}${tries}`);
    this.name = "ApiError";
  }
}

/** A response that parsed but does not have the shape the vendor documents. */
export class MalformedResponseError extends Error {
  constructor(
    readonly call: string,
    readonly field: string,
    problem: string,
  ) {
    super(`${call} returned a malformed page: ${field} ${problem}`);
    this.name = "MalformedResponseError";
  }
}

/** A listing that did not add up (entries missing, or the total moved while paging): it cannot stand as the inventory. */
export class IncompleteListingError extends Error {
  constructor(
    readonly call: string,
    problem: string,
  ) {
    super(`${call}: ${problem}; nothing stored was changed and the next sweep reads the list again`);
    this.name = "IncompleteListingError";
  }
}

/**
 * A sweep that reached one of its source's bounds (`maxPages`, `timeBudget`): it stops and fails, naming the bound,
 * rather than run on for hours while every other source and receiver waits.
 */
export class SweepLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SweepLimitError";
  }
}

/**
 * The most one answer may hold. The largest honest page (100 entries, each with its PEM text) is a few hundred
 * kilobytes; 10 MB is twenty times that, and four such answers in flight, each held as bytes, text and parsed JSON,
 * still fit the sweep function's 512 MB.
 */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** Response headers as undici gives them. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** What a cloud's client reads out of an error answer (its body and headers). */
export interface VendorError {
  code?: string;
  message?: string;
  requestId?: string;
  throttled: boolean;
  /** How long the vendor asked to wait before the next try, when it says so in its own way. */
  retryAfterMs?: number;
}

export interface PreparedRequest {
  method: "GET" | "POST";
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** Counters a source's sweep reports: every attempt is a call against the vendor's budget. */
export interface CallStats {
  calls: number;
  retries: number;
  throttled: number;
}

export function newCallStats(): CallStats {
  return { calls: 0, retries: 0, throttled: 0 };
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for; the call fails as retryable. */
  maxRetryAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
};

/**
 * Paces calls made with one credential: at most `qps` call starts per second, at most `concurrency` in flight.
 * Starts are spaced evenly rather than burst, so that a vendor counting per second never sees more than its budget.
 */
export class Limiter {
  private nextStartAt = 0;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private budget: number,
    private slots: number,
  ) {}

  get qps(): number {
    return this.budget;
  }

  get concurrency(): number {
    return this.slots;
  }

  /** Another source on the same credential asks for less: the whole credential gets the smaller budget. */
  tighten(qps: number, concurrency: number): void {
    this.budget = Math.min(this.budget, qps);
    this.slots = Math.min(this.slots, concurrency);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    while (this.active >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      const now = Date.now();
      const startAt = Math.max(now, this.nextStartAt);
      this.nextStartAt = startAt + 1000 / this.budget;
      if (startAt > now) await sleep(startAt - now);
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Every string in a parsed JSON value, passed through `redact`. */
function redactStrings(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === "string") return redact(value);
  if (Array.isArray(value)) return value.map((item) => redactStrings(item, redact));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactStrings(item, redact)]));
  }
  return value;
}

/**
 * A response body as text, or undefined as soon as it passes `limit` bytes: reading stops there and the stream is
 * destroyed, which drops the connection, so a server streaming without end costs no more than the limit.
 */
async function readWithin(body: Dispatcher.ResponseData["body"], limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function backoffMs(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

const RETRYABLE_NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);

export interface CallOptions {
  call: string;
  /** Builds (and signs) a fresh request for each attempt: signatures carry dates and nonces. */
  prepare: () => PreparedRequest;
  limiter: Limiter;
  stats: CallStats;
  classifyError: (status: number, body: unknown, headers: ResponseHeaders) => VendorError;
  timeoutMs: number;
  retry?: RetryPolicy;
  /** Aborted when the sweep no longer needs the answer (another page failed): stop spending the budget. */
  signal?: AbortSignal;
  /** Applied to every string of a parsed error answer before it is read (see `CollectContext.redact`). */
  redact?: (text: string) => string;
  /**
   * A write that must not happen twice (creating a job): retried only when throttled, which is a refusal. After a
   * timeout or a 5xx it may have been done, so it fails with `outcomeUnknown` instead of being sent again.
   */
  once?: boolean;
}

/** Shared HTTP for every cloud: one connection pool, per-credential pacing, retries that re-sign. */
export class HttpClient {
  private readonly limiters = new Map<string, Limiter>();

  constructor(
    private readonly dispatcher: Dispatcher = new Agent({ connections: 32, keepAliveTimeout: 10_000 }),
  ) {}

  /**
   * Sources that share a credential share one limiter, whatever their names. When they configure different
   * budgets the smallest holds: the vendor counts the credential, not the source.
   */
  limiterFor(scope: string, qps: number, concurrency: number): Limiter {
    const existing = this.limiters.get(scope);
    if (existing) {
      existing.tighten(qps, concurrency);
      return existing;
    }
    const limiter = new Limiter(qps, concurrency);
    this.limiters.set(scope, limiter);
    return limiter;
  }

  async call(options: CallOptions): Promise<unknown> {
    const policy = options.retry ?? defaultRetryPolicy;
    for (let attempt = 1; ; attempt++) {
      const outcome = await options.limiter.run(() => {
        options.signal?.throwIfAborted();
        return this.attempt(options, attempt);
      });
      if (outcome.ok) return outcome.body;
      const { error, waitMs } = outcome;
      if (options.once && error.detail.retryable && !outcome.throttled) {
        throw new ApiError(
          options.call,
          { ...error.detail, retryable: false, outcomeUnknown: true },
          `${error.message}; it may have taken effect, so it was not sent again`,
        );
      }
      if (!error.detail.retryable || attempt >= policy.attempts) throw error;
      const delay = waitMs ?? backoffMs(policy, attempt);
      if (delay > policy.maxRetryAfterMs) throw error;
      options.stats.retries++;
      await sleep(delay, undefined, { signal: options.signal });
    }
  }

  private async attempt(
    options: CallOptions,
    attempt: number,
  ): Promise<
    { ok: true; body: unknown } | { ok: false; error: ApiError; waitMs?: number; throttled?: boolean }
  > {
    const prepared = options.prepare();
    options.stats.calls++;
    let status: number;
    let headers: ResponseHeaders;
    let text: string | undefined;
    try {
      const response = await request(prepared.url, {
        method: prepared.method,
        headers: prepared.headers,
        body: prepared.body,
        dispatcher: this.dispatcher,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        signal: options.signal
          ? AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)])
          : AbortSignal.timeout(options.timeoutMs),
      });
      status = response.statusCode;
      headers = response.headers;
      text = await readWithin(response.body, MAX_RESPONSE_BYTES);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name;
      const timedOut = (error as Error).name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT";
      const reason = timedOut ? `no answer within ${options.timeoutMs} ms` : `network error ${code}`;
      const retryable = timedOut || RETRYABLE_NETWORK_CODES.has(code) || code === "AbortError";
      return {
        ok: false,
        error: new ApiError(
          options.call,
          {
            retryable,
            attempts: attempt,
            unreachable: { host: prepared.url.host, code: timedOut ? "timeout" : code },
          },
          `${options.call} failed: ${reason}`,
        ),
      };
    }

    if (text === undefined) {
      return {
        ok: false,
        error: new ApiError(
          options.call,
          { status, retryable: false, attempts: attempt },
          `${options.call} failed: the answer passed ${MAX_RESPONSE_BYTES.toLocaleString("en-US")} bytes, the most certwatch reads of one response; the request was aborted`,
        ),
      };
    }
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (status >= 200 && status < 300) {
      if (body === undefined) {
        return {
          ok: false,
          error: new ApiError(
            options.call,
            { status, retryable: false, attempts: attempt },
            `${options.call} returned a malformed page: the body is not JSON (${text.length} bytes)`,
          ),
        };
      }
      return { ok: true, body };
    }
    // Masked before anything reads or shortens it, in the parsed strings too: JSON may escape a secret's characters.
    if (options.redact) body = redactStrings(body, options.redact);
    const vendor = options.classifyError(status, body, headers);
    if (vendor.throttled) options.stats.throttled++;
    const retryable = vendor.throttled || status === 429 || status >= 500;
    return {
      ok: false,
      error: new ApiError(options.call, {
        status,
        code: vendor.code,
        vendorMessage: vendor.message,
        requestId: vendor.requestId,
        retryable,
        attempts: attempt,
      }),
      waitMs: retryable ? (vendor.retryAfterMs ?? retryAfterMs(headers["retry-after"])) : undefined,
      throttled: vendor.throttled || status === 429,
    };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
