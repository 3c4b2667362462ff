/*
 * How an endpoint observation carries what it served, shared by the collector that writes it and the rules that
 * read it. No I/O here: rules import it.
 */
import type { Observation } from "../../model/types.js";
import type { CertificateFacts } from "../x509.js";

/** What a served certificate's facts keep in the store; the leaf's SANs are the observation's `domains`. */
export type StoredFacts = Omit<CertificateFacts, "dnsNames" | "ipAddresses">;

/** The endpoint's `details.served`: the leaf and the chain above it, as JSON (details hold strings only). */
export interface ServedDetails {
  leaf: StoredFacts;
  chain: StoredFacts[];
}

export function storedFacts(facts: CertificateFacts): StoredFacts {
  const { dnsNames: _dns, ipAddresses: _ips, ...kept } = facts;
  return kept;
}

/** The served facts an endpoint observation carries; absent before its first good handshake. */
export function servedDetails(observation: Observation): ServedDetails | undefined {
  const text = observation.details?.served;
  return text ? (JSON.parse(text) as ServedDetails) : undefined;
}
