/*
 * The `tls-endpoints` source: what each endpoint really serves, one observation per endpoint (kind `endpoint`).
 * A handshake that fails is that endpoint's own health, never the source's: its observation says `failed`, keeps
 * what it served last, and counts the failures in a row. Only a sweep cut short (time budget) fails the source.
 */
import { normalHost } from "../pem-facts.js";
import { parseDuration } from "../../model/time.js";
import { type Observation, objectKey } from "../../model/types.js";
import { type TlsEndpointsSourceConfig, type TlsTarget, tlsTarget } from "../../config/schema.js";
import type { CollectContext, SourceDriver } from "../types.js";
import {
  DEFAULT_PROBE_CONCURRENCY,
  DEFAULT_PROBE_TIMEOUT_MS,
  describeTarget,
  type ProbeResult,
  probeAll,
  type Served,
} from "./probe.js";
import { type ServedDetails, storedFacts } from "./served.js";

/** An error text from a socket is short, but a bound keeps any surprise out of the stored item and messages. */
const MAX_ERROR_LENGTH = 300;

/**
 * Chain certificates kept above the leaf. Real chains hold one to three; a server sending dozens of large ones could
 * otherwise push the endpoint's stored item past DynamoDB's 400 KB and stop the whole source from saving.
 */
const MAX_CHAIN_STORED = 8;

/** `host:port`, then `/serverName` when SNI names another host, then `@address` when connecting elsewhere. */
export function endpointId(target: TlsTarget): string {
  const sni = target.serverName === target.host ? "" : `/${target.serverName}`;
  const via = target.connectTo ? `@${target.connectTo}` : "";
  return `${target.host}:${target.port}${sni}${via}`.toLowerCase();
}

/** A name with a `*` label, or nothing but dots, cannot be connected to. */
function probeable(hostname: string): boolean {
  return !hostname.includes("*") && /[^.]/.test(hostname);
}

/**
 * The source's explicit endpoints, then each of `hostnames` (the inventories' names, with `fromInventory`) on
 * `inventoryPort` that is not listed already; wildcard names are skipped, as nothing can connect to them.
 */
export function probeTargets(
  source: Pick<TlsEndpointsSourceConfig, "endpoints"> & { inventoryPort?: number },
  hostnames: Iterable<string> = [],
): TlsTarget[] {
  const targets = (source.endpoints ?? []).map(tlsTarget);
  const listed = new Set(targets.map(endpointId));
  const port = source.inventoryPort ?? 443;
  for (const hostname of hostnames) {
    const target = tlsTarget({ host: normalHost(hostname), port });
    if (!probeable(target.host) || listed.has(endpointId(target))) continue;
    listed.add(endpointId(target));
    targets.push(target);
  }
  return targets;
}

function baseObservation(source: TlsEndpointsSourceConfig, target: TlsTarget): Observation {
  const nativeId = endpointId(target);
  return {
    key: objectKey(source.name, "endpoint", nativeId),
    kind: "endpoint",
    nativeId,
    name: describeTarget(target),
    domains: [],
    status: "unknown",
    rawStatus: "",
    details: {
      host: target.host,
      port: String(target.port),
      serverName: target.serverName,
      ...(target.connectTo ? { connectTo: target.connectTo } : {}),
    },
    labels: { ...source.labels, source: source.name, provider: "tls", product: "tls-endpoint" },
  };
}

function servedObservation(base: Observation, served: Served): Observation {
  const { leaf, chain } = served;
  const details: ServedDetails = {
    leaf: storedFacts(leaf),
    chain: chain.slice(0, MAX_CHAIN_STORED).map(storedFacts),
  };
  return {
    ...base,
    domains: [...leaf.dnsNames, ...leaf.ipAddresses],
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    status: "active",
    // What a browser would say of the chain; the endpoint answered either way.
    rawStatus: served.verifyError ?? "verified",
    details: {
      ...base.details,
      protocol: served.protocol,
      issuer: leaf.issuer,
      serial: leaf.serial,
      fingerprint: leaf.fingerprint,
      failures: "0",
      served: JSON.stringify(details),
    },
  };
}

/**
 * A failed handshake: what the endpoint served last (as the last sweep stored it) stays, so that its expiry keeps
 * being watched, and the failures in a row are counted on from there.
 */
function failedObservation(
  base: Observation,
  result: Extract<ProbeResult, { ok: false }>,
  previous: Observation | undefined,
  at: string,
): Observation {
  const failures = Number(previous?.details?.failures ?? "0") + 1;
  const lastServed = previous?.details?.served ? previous : undefined;
  const error = `${result.code ? `${result.code}: ` : ""}${result.error}`.slice(0, MAX_ERROR_LENGTH);
  return {
    ...base,
    domains: lastServed?.domains ?? [],
    ...(lastServed?.notBefore ? { notBefore: lastServed.notBefore } : {}),
    ...(lastServed?.notAfter ? { notAfter: lastServed.notAfter } : {}),
    status: "failed",
    rawStatus: "handshake failed",
    details: {
      ...lastServed?.details,
      ...base.details,
      failures: String(failures),
      failingSince: (failures > 1 && previous?.details?.failingSince) || at,
      error: `TLS handshake with ${describeTarget(result.target)} failed after ${result.attempts} attempt${result.attempts === 1 ? "" : "s"}: ${error}`,
    },
  };
}

/**
 * Probes the source's endpoints (and `hostnames`, see probeTargets) and yields one observation each, as soon as
 * its handshake is done. It throws only when the sweep is cut short (its signal): then nothing was learnt.
 */
export async function* collectEndpoints(
  source: TlsEndpointsSourceConfig,
  context: CollectContext,
  hostnames: Iterable<string> = [],
): AsyncGenerator<Observation> {
  const targets = probeTargets(source, hostnames);
  context.total?.(targets.length);
  for await (const result of probeAll(targets, {
    concurrency: source.concurrency ?? DEFAULT_PROBE_CONCURRENCY,
    timeoutMs: (source.timeout && parseDuration(source.timeout)) || DEFAULT_PROBE_TIMEOUT_MS,
    retries: source.retries,
    signal: context.signal,
  })) {
    const base = baseObservation(source, result.target);
    yield result.ok
      ? servedObservation(base, result)
      : failedObservation(base, result, context.previous.get(base.key), new Date().toISOString());
  }
}

export const tlsEndpoints: SourceDriver<"tls-endpoints"> = {
  type: "tls-endpoints",

  async *collect(source: TlsEndpointsSourceConfig, context: CollectContext) {
    const hostnames: string[] = [];
    if (source.fromInventory && context.inventoryHostnames) {
      for await (const hostname of context.inventoryHostnames()) hostnames.push(hostname);
    }
    yield* collectEndpoints(source, context, hostnames);
  },

  // No credentials to prove; a probe here would only tell one endpoint's health, which the sweep reports anyway.
  verify(source: TlsEndpointsSourceConfig) {
    const count = source.endpoints?.length ?? 0;
    return Promise.resolve(
      `${count} endpoint${count === 1 ? "" : "s"} to probe${source.fromInventory ? ", and the inventories' hostnames" : ""}; no credentials needed`,
    );
  },
};
