import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** What a simulator can be told to do wrong, the way real APIs do. */
export type Fault = "5xx" | "throttle" | "malformed" | "bad-json" | "hang";

export interface FaultOptions {
  /** Added to every answer. */
  latencyMs?: number;
  /** A random share (0..1) of requests answered with one of `kinds`, from a seeded generator. */
  random?: { rate: number; kinds: Fault[]; seed?: number };
}

/** Small deterministic PRNG (mulberry32), so that fleets and random faults repeat run to run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimRequest {
  method: string;
  url: URL;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface SimAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** A test asked for this answer (a scripted refusal, a field left out): it is not the vendor's contract. */
  deliberate?: boolean;
}

/** One request a simulator answered, as the vendor's contract sees it. */
export interface Exchange {
  /** The vendor API the simulator stands for, as keys in vendor-contracts.json begin: `aliyun.cas`, `huawei.scm`. */
  service: string;
  request: SimRequest;
  answer: SimAnswer;
  /** A fault or scripted answer: what a test asked the simulator to get wrong, so not checked against the contract. */
  deliberate: boolean;
}

const exchangeObservers = new Set<(exchange: Exchange) => void>();

/**
 * Shows every exchange of every vendor simulator in this process to `observer` (the tests check each one against
 * the vendors' contracts). Returns the function that stops it.
 */
export function observeExchanges(observer: (exchange: Exchange) => void): () => void {
  exchangeObservers.add(observer);
  return () => exchangeObservers.delete(observer);
}

export interface SimStats {
  requests: number;
  faults: Record<Fault, number>;
  throttled: number;
  maxInFlight: number;
}

/** A loopback HTTP server with queued and random faults, shared by every cloud simulator. */
export class SimServer {
  readonly stats: SimStats = {
    requests: 0,
    faults: { "5xx": 0, throttle: 0, malformed: 0, "bad-json": 0, hang: 0 },
    throttled: 0,
    maxInFlight: 0,
  };
  private readonly queued: Fault[] = [];
  private always: Fault | undefined;
  private inFlight = 0;
  private server: Server | undefined;
  private readonly random: (() => number) | undefined;
  latencyMs: number;

  constructor(
    private readonly handle: (request: SimRequest) => SimAnswer | Promise<SimAnswer>,
    private readonly answerFault: (fault: Exclude<Fault, "hang" | "bad-json">) => SimAnswer,
    private readonly options: FaultOptions = {},
    /** The vendor API this stands for (`aliyun.cas`, `huawei.scm`); its exchanges are shown to observers. */
    private readonly service?: string,
  ) {
    this.latencyMs = options.latencyMs ?? 0;
    this.random = options.random ? seededRandom(options.random.seed ?? 1) : undefined;
  }

  /** The next `times` requests answer with `fault`. */
  inject(fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.queued.push(fault);
  }

  /** Every request answers with `fault` until cleared with undefined. */
  injectAlways(fault: Fault | undefined): void {
    this.always = fault;
  }

  private nextFault(): Fault | undefined {
    const queued = this.queued.shift();
    if (queued) return queued;
    if (this.always) return this.always;
    const random = this.options.random;
    if (random && this.random && this.random() < random.rate) {
      return random.kinds[Math.floor(this.random() * random.kinds.length)];
    }
    return undefined;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.stats.requests++;
    this.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
    try {
      if (this.latencyMs > 0) await sleep(this.latencyMs);
      const fault = this.nextFault();
      if (fault) this.stats.faults[fault]++;
      if (fault === "hang") {
        // Never answer; the client's timeout must fire. The socket is cleaned up when the server closes.
        return;
      }
      if (fault === "bad-json") {
        res.writeHead(200, { "content-type": "application/json" }).end('{"truncated": ');
        return;
      }
      const request: SimRequest = {
        method: req.method ?? "GET",
        url: new URL(req.url ?? "/", "http://sim.local"),
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      const answer = fault ? this.answerFault(fault) : await this.handle(request);
      if (this.service) {
        const exchange = {
          service: this.service,
          request,
          answer,
          deliberate: !!fault || !!answer.deliberate,
        };
        for (const observer of exchangeObservers) observer(exchange);
      }
      if (answer.status === 429 || (fault === "throttle" && answer.status >= 400)) this.stats.throttled++;
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(JSON.stringify(answer.body));
    } finally {
      this.inFlight--;
    }
  }

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      this.serve(req, res).catch((error: Error) => {
        res.writeHead(500).end(JSON.stringify({ error: error.message }));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Paces a simulated account the way vendors do: a bucket of `qps` tokens refilled continuously. */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly qps: number) {
    this.tokens = qps;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.qps, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** How long until the next token, in whole milliseconds (at least 1): what a throttled answer tells to wait. */
  msUntilNext(): number {
    return Math.max(1, Math.ceil(((1 - this.tokens) / this.qps) * 1000));
  }
}
