/*
 * What an inventory observation keeps of a PEM its source returned (Identity Center, CAS client certificates): the
 * few facts the content checks need, as `details` strings, never the PEM itself (item size, memory). Shared by the
 * collectors that write them and the rules that read them (lib/rules/content.ts). No I/O here: rules import it.
 */
import type { Observation } from "../model/types.js";
import { type CertificateFacts, certificateFacts } from "./x509.js";

/** The names one side has and the other lacks, as compared (normalHost). */
export interface SanDisagreement {
  notInCertificate: string[];
  notListed: string[];
}

/** The facts a PEM leaves on its observation. */
export interface PemFacts {
  keyType: string;
  keyBits?: number;
  signatureAlgorithm: string;
  /** SHA-256 of the certificate: an alert on it lasts as long as this certificate does. */
  fingerprint: string;
  /** Set when the PEM's SANs disagree with the names the source lists for it. */
  sanDisagreement?: SanDisagreement;
}

/** How details join a list of names; a DNS name holds no comma. */
const NAME_SEPARATOR = ", ";

/** A host name as compared: lower case, without the root's trailing dot. */
export function normalHost(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** The certificate's DNS and IP SANs against the listed names; undefined when they agree or nothing is listed. */
export function sanDisagreement(
  certificateNames: readonly string[],
  listedNames: readonly string[],
): SanDisagreement | undefined {
  if (listedNames.length === 0) return undefined;
  const inCertificate = new Set(certificateNames.map(normalHost));
  const listed = new Set(listedNames.map(normalHost));
  const notInCertificate = [...listed].filter((name) => !inCertificate.has(name));
  const notListed = [...inCertificate].filter((name) => !listed.has(name));
  return notInCertificate.length || notListed.length ? { notInCertificate, notListed } : undefined;
}

/**
 * The facts of `pem`, or undefined after a warning naming `what` when it does not parse: one unreadable PEM is the
 * vendor's slip about one certificate, not a reason to fail the sweep.
 */
export function readPem(
  pem: string,
  what: string,
  warn: (message: string) => void,
): CertificateFacts | undefined {
  try {
    return certificateFacts(pem);
  } catch (error) {
    warn(`${what}: ${(error as Error).message}; its key, signature and SANs are not checked`);
    return undefined;
  }
}

/**
 * The details an observation keeps of its PEM. `listedNames` are the DNS and IP names the source lists for it;
 * undefined when that list is incomplete, and then the SANs are not compared (nor when the PEM's were cut).
 */
export function pemDetails(
  facts: CertificateFacts,
  listedNames: readonly string[] | undefined,
): Record<string, string> {
  const complete = listedNames !== undefined && facts.sansOmitted === undefined;
  const disagreement = complete
    ? sanDisagreement([...facts.dnsNames, ...facts.ipAddresses], listedNames)
    : undefined;
  return {
    keyType: facts.keyType,
    ...(facts.keyBits === undefined ? {} : { keyBits: String(facts.keyBits) }),
    signatureAlgorithm: facts.signatureAlgorithm,
    sha256Fingerprint: facts.fingerprint,
    ...(disagreement?.notInCertificate.length
      ? { sansNotInCertificate: disagreement.notInCertificate.join(NAME_SEPARATOR) }
      : {}),
    ...(disagreement?.notListed.length ? { sansNotListed: disagreement.notListed.join(NAME_SEPARATOR) } : {}),
  };
}

/** The PEM facts an observation carries; absent when its source gave no readable PEM. */
export function pemFactsOf(observation: Observation): PemFacts | undefined {
  const details = observation.details ?? {};
  const { keyType, keyBits, signatureAlgorithm, sha256Fingerprint } = details;
  if (!keyType || !signatureAlgorithm || !sha256Fingerprint) return undefined;
  const names = (text: string | undefined) => (text ? text.split(NAME_SEPARATOR) : []);
  const notInCertificate = names(details.sansNotInCertificate);
  const notListed = names(details.sansNotListed);
  return {
    keyType,
    ...(keyBits === undefined ? {} : { keyBits: Number(keyBits) }),
    signatureAlgorithm,
    fingerprint: sha256Fingerprint,
    ...(notInCertificate.length || notListed.length
      ? { sanDisagreement: { notInCertificate, notListed } }
      : {}),
  };
}
