/*
 * One TLS handshake per endpoint through node:tls, to see what it serves. Nothing is trusted (rejectUnauthorized
 * false): the point is to observe, so a chain that does not verify is recorded with its verification error, not
 * refused. Each handshake has a timeout and is retried with a growing pause; many run at once, up to a bound.
 */
import { isIP } from "node:net";
import { connect, type DetailedPeerCertificate } from "node:tls";
import type { TlsTarget } from "../../config/schema.js";
import { type CertificateFacts, certificateFacts } from "../x509.js";

/**
 * Handshakes in flight at once unless the source says otherwise. Each costs a socket and a few kilobytes; 16 keeps
 * a slow or black-holed endpoint from holding up the rest while staying far from anyone's rate limits.
 */
export const DEFAULT_PROBE_CONCURRENCY = 16;
/** How long one handshake may take, connecting included, unless the source says otherwise. */
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
/** The pause before the first retry; it doubles before each next one. */
export const RETRY_PAUSE_MS = 250;

export interface ProbeOptions {
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  /** Aborts handshakes in flight and pauses: the sweep is over. */
  signal?: AbortSignal;
  retryPauseMs?: number;
}

/** What an endpoint served: its leaf and the rest of the chain, in issuing order. */
export interface Served {
  leaf: CertificateFacts;
  chain: CertificateFacts[];
  /** The negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string;
  /** Why the chain does not verify against Node's trust store (`CERT_HAS_EXPIRED`, ...); absent when it does. */
  verifyError?: string;
}

export type ProbeResult =
  | ({ ok: true; target: TlsTarget; attempts: number } & Served)
  | { ok: false; target: TlsTarget; attempts: number; error: string; code?: string };

/** `host:port (SNI name via address)`, for messages that say which probe failed. */
export function describeTarget(target: TlsTarget): string {
  const how = [
    ...(target.serverName === target.host ? [] : [`SNI ${target.serverName}`]),
    ...(target.connectTo ? [`via ${target.connectTo}`] : []),
  ];
  return `${target.host}:${target.port}${how.length ? ` (${how.join(", ")})` : ""}`;
}

/** The served leaf and chain; the walk stops where an issuer repeats (a root is its own issuer). */
function servedChain(peer: DetailedPeerCertificate): { leaf: CertificateFacts; chain: CertificateFacts[] } {
  const leaf = certificateFacts(peer.raw);
  const chain: CertificateFacts[] = [];
  const seen = new Set([leaf.fingerprint]);
  for (let issuer = peer.issuerCertificate; issuer?.raw; issuer = issuer.issuerCertificate) {
    const facts = certificateFacts(issuer.raw);
    if (seen.has(facts.fingerprint)) break;
    seen.add(facts.fingerprint);
    chain.push(facts);
  }
  return { leaf, chain };
}

class ProbeError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

function handshake(target: TlsTarget, timeoutMs: number, signal?: AbortSignal): Promise<Served> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.connectTo ?? target.host,
      port: target.port,
      // RFC 6066 forbids an IP address as SNI; such an endpoint is reached without one.
      ...(isIP(target.serverName) ? {} : { servername: target.serverName }),
      rejectUnauthorized: false,
      // Weak keys and signatures are what the content checks look for: a handshake must not refuse to show them.
      ciphers: "DEFAULT:@SECLEVEL=0",
    });
    const finish = (error?: Error, served?: Served) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      socket.destroy();
      if (error) reject(error);
      else resolve(served as Served);
    };
    const aborted = () => finish(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    const timer = setTimeout(
      () => finish(new ProbeError(`no handshake within ${timeoutMs} ms`, "ETIMEDOUT")),
      timeoutMs,
    );
    signal?.addEventListener("abort", aborted, { once: true });
    socket.once("error", (error: NodeJS.ErrnoException) => finish(new ProbeError(error.message, error.code)));
    socket.once("secureConnect", () => {
      const peer = socket.getPeerCertificate(true);
      if (!peer?.raw) {
        finish(new ProbeError("the server sent no certificate", "NO_CERTIFICATE"));
        return;
      }
      try {
        const verifyError = socket.authorizationError;
        finish(undefined, {
          ...servedChain(peer),
          protocol: socket.getProtocol() ?? "unknown",
          ...(verifyError ? { verifyError: String(verifyError) } : {}),
        });
      } catch (error) {
        finish(new ProbeError((error as Error).message, "BAD_CERTIFICATE"));
      }
    });
  });
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      if (signal?.aborted) reject(signal.reason);
      else resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * One endpoint, tried up to `1 + retries` times. A failure is the endpoint's own news and is returned, not
 * thrown; only an aborted sweep throws, because then nothing was learnt about the endpoint.
 */
export async function probe(target: TlsTarget, options: ProbeOptions): Promise<ProbeResult> {
  const { signal, retryPauseMs = RETRY_PAUSE_MS } = options;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const served = await handshake(target, options.timeoutMs, signal);
      return { ok: true, target, attempts, ...served };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (attempts > options.retries) {
        const code = error instanceof ProbeError ? error.code : undefined;
        return { ok: false, target, attempts, error: (error as Error).message, ...(code ? { code } : {}) };
      }
    }
    await pause(retryPauseMs * 2 ** (attempts - 1), signal);
  }
}

/**
 * Every target, at most `concurrency` handshakes at a time, each result as soon as it is in: a black-holed endpoint
 * waiting out its timeouts holds one slot, never the ones behind it.
 */
export async function* probeAll(
  targets: Iterable<TlsTarget>,
  options: ProbeOptions & { concurrency: number },
): AsyncGenerator<ProbeResult> {
  type Settled = { id: number; result?: ProbeResult; error?: unknown };
  const pending = targets[Symbol.iterator]();
  const running = new Map<number, Promise<Settled>>();
  let started = 0;
  const fill = () => {
    while (running.size < options.concurrency) {
      const next = pending.next();
      if (next.done) return;
      const id = started++;
      running.set(
        id,
        probe(next.value, options).then(
          (result) => ({ id, result }),
          // Kept as a value: the others still in flight must not turn into unhandled rejections.
          (error: unknown) => ({ id, error }),
        ),
      );
    }
  };
  fill();
  while (running.size > 0) {
    const settled = await Promise.race(running.values());
    running.delete(settled.id);
    if (settled.error !== undefined) throw settled.error;
    fill();
    yield settled.result as ProbeResult;
  }
}
