/*
 * X.509 certificate facts from PEM or DER, for what endpoints serve and for PEMs the clouds return. node:crypto's
 * X509Certificate checks the structure and gives the fingerprint, serial and key; the names, SANs, validity and
 * signature algorithm are read from the DER by a minimal reader, because on Node 20 X509Certificate has no
 * signature algorithm and prints names and SANs in a text form a hostile certificate can make ambiguous.
 */
import { oneLine } from "../model/text.js";
import { X509Certificate } from "node:crypto";

export interface CertificateFacts {
  /** `CN=www.example.com, O=Example`; cut to MAX_NAME_LENGTH. */
  subject: string;
  issuer: string;
  /** DNS names from subjectAltName, lowercased; each cut to MAX_SAN_LENGTH, at most MAX_SANS of them. */
  dnsNames: string[];
  ipAddresses: string[];
  /** SAN entries left out beyond MAX_SANS. */
  sansOmitted?: number;
  /** Upper-case hex, as vendors and browsers show it. */
  serial: string;
  /** SHA-256 of the DER, upper-case hex pairs joined by colons. */
  fingerprint: string;
  /** ISO 8601 UTC instants. */
  notBefore: string;
  notAfter: string;
  /** `rsa`, `ec`, `ed25519`, ... as node:crypto names key types. */
  keyType: string;
  /** RSA and DSA modulus length. */
  keyBits?: number;
  /** EC named curve, e.g. `prime256v1`. */
  curve?: string;
  /** `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, ... or the dotted OID when unknown. */
  signatureAlgorithm: string;
  /** Subject and issuer are the same name: a root, or a self-signed leaf. */
  selfIssued: boolean;
}

/** Names longer than this say nothing more to a person and would only weigh down every stored item. */
export const MAX_NAME_LENGTH = 1024;
/** A DNS name is at most 253 characters; anything longer cannot match a host anyway. */
export const MAX_SAN_LENGTH = 255;
/** CDN certificates hold a few hundred names at most; more would only weigh down the stored item (400 KB cap). */
export const MAX_SANS = 500;

export class CertificateParseError extends Error {
  constructor(what: string) {
    super(`not a readable X.509 certificate: ${what}`);
    this.name = "CertificateParseError";
  }
}

/** One DER element: its tag byte and where its content lies in the buffer. */
interface Element {
  tag: number;
  start: number;
  end: number;
}

/** Reads the element at `offset`; definite lengths only, as DER requires. */
function element(der: Buffer, offset: number, limit = der.length): Element {
  if (offset + 2 > limit) throw new CertificateParseError(`truncated at byte ${offset}`);
  const tag = der.readUInt8(offset);
  let length = der.readUInt8(offset + 1);
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit)
      throw new CertificateParseError(`bad length at byte ${offset}`);
    length = 0;
    for (let index = 0; index < bytes; index++) length = length * 256 + der.readUInt8(start + index);
    start += bytes;
  }
  const end = start + length;
  if (end > limit) throw new CertificateParseError(`element at byte ${offset} runs past its container`);
  return { tag, start, end };
}

/** The elements directly inside a constructed element. */
function children(der: Buffer, parent: Element): Element[] {
  const found: Element[] = [];
  for (let offset = parent.start; offset < parent.end;) {
    const child = element(der, offset, parent.end);
    found.push(child);
    offset = child.end;
  }
  return found;
}

function expectTag(child: Element | undefined, tag: number, what: string): Element {
  if (child?.tag !== tag) throw new CertificateParseError(`${what} is missing`);
  return child;
}

function oidOf(der: Buffer, item: Element): string {
  const bytes = der.subarray(item.start, item.end);
  if (bytes.length === 0) return "";
  const lead = bytes.readUInt8(0);
  const first = Math.min(2, Math.floor(lead / 40));
  const parts = [first, lead - 40 * first];
  let value = 0;
  for (let index = 1; index < bytes.length; index++) {
    const byte = bytes.readUInt8(index);
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join(".");
}

const SIGNATURE_ALGORITHMS: Record<string, string> = {
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.10": "rsassaPss",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.10040.4.3": "dsa-with-SHA1",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.3.101.112": "ED25519",
  "1.3.101.113": "ED448",
  "1.2.156.10197.1.501": "SM2-with-SM3",
};

/** Short names of the attributes a certificate name commonly holds; others show as their OID. */
const ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "1.2.840.113549.1.9.1": "emailAddress",
};

const SUBJECT_ALT_NAME = "2.5.29.17";

/** A directory string in whatever type the issuer chose; the text is untrusted and shown only neutralised. */
function stringOf(der: Buffer, item: Element): string {
  const bytes = der.subarray(item.start, item.end);
  // BMPString is UTF-16 big-endian; an odd byte left over is dropped.
  if (item.tag === 0x1e)
    return Buffer.from(bytes.subarray(0, bytes.length & ~1))
      .swap16()
      .toString("utf16le");
  if (item.tag === 0x0c) return bytes.toString("utf8");
  return bytes.toString("latin1");
}

/** One line first: a control character stored as JSON takes six bytes, and a hostile name is made of them. */
function cut(text: string, max: number): string {
  const line = oneLine(text);
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** A Name as `CN=..., O=...`, in the order the certificate gives it. */
function nameOf(der: Buffer, name: Element): string {
  const parts: string[] = [];
  for (const rdn of children(der, name)) {
    for (const attribute of children(der, rdn)) {
      const [type, value] = children(der, attribute);
      if (!type || !value) continue;
      const oid = oidOf(der, type);
      parts.push(`${ATTRIBUTES[oid] ?? oid}=${stringOf(der, value)}`);
      if (parts.join(", ").length > MAX_NAME_LENGTH) return cut(parts.join(", "), MAX_NAME_LENGTH);
    }
  }
  return cut(parts.join(", "), MAX_NAME_LENGTH);
}

/** UTCTime (YYMMDDHHMMSSZ, years 1950 to 2049) or GeneralizedTime (YYYYMMDDHHMMSSZ) to ISO. */
function timeOf(der: Buffer, item: Element, what: string): string {
  const text = der.subarray(item.start, item.end).toString("latin1");
  const match =
    item.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) throw new CertificateParseError(`${what} ${JSON.stringify(text)} is not a UTC time`);
  const [, yearText, month, day, hour, minute, second] = match;
  const year =
    item.tag === 0x17 ? (Number(yearText) < 50 ? 2000 : 1900) + Number(yearText) : Number(yearText);
  return new Date(
    Date.UTC(year, Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)),
  ).toISOString();
}

function ipOf(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join(".");
  if (bytes.length !== 16) return bytes.toString("hex");
  const groups: string[] = [];
  for (let index = 0; index < 16; index += 2) groups.push(bytes.readUInt16BE(index).toString(16));
  // RFC 5952: the longest run of two or more zero groups becomes `::`.
  let best = { at: -1, length: 1 };
  for (let at = 0; at < 8; at++) {
    let length = 0;
    while (groups[at + length] === "0") length++;
    if (length > best.length) best = { at, length };
  }
  if (best.at < 0) return groups.join(":");
  return `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.length).join(":")}`;
}

interface AltNames {
  dnsNames: string[];
  ipAddresses: string[];
  omitted: number;
}

function altNamesOf(der: Buffer, extensions: Element | undefined): AltNames {
  const names: AltNames = { dnsNames: [], ipAddresses: [], omitted: 0 };
  if (!extensions) return names;
  const [list] = children(der, extensions);
  if (!list) return names;
  for (const extension of children(der, list)) {
    const parts = children(der, extension);
    if (parts[0]?.tag !== 0x06 || oidOf(der, parts[0]) !== SUBJECT_ALT_NAME) continue;
    const value = parts[parts.length - 1] as Element;
    const sequence = element(der, value.start, value.end);
    for (const general of children(der, sequence)) {
      if (names.dnsNames.length + names.ipAddresses.length >= MAX_SANS) {
        names.omitted++;
        continue;
      }
      const bytes = der.subarray(general.start, general.end);
      if (general.tag === 0x82)
        names.dnsNames.push(cut(bytes.toString("latin1").toLowerCase(), MAX_SAN_LENGTH));
      if (general.tag === 0x87) names.ipAddresses.push(ipOf(bytes));
    }
  }
  return names;
}

/** PEM text (one certificate, or the first of several) or DER bytes, as X509Certificate takes them. */
export function certificateFacts(input: string | Buffer): CertificateFacts {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(input);
  } catch (error) {
    throw new CertificateParseError((error as Error).message);
  }
  const der = certificate.raw;
  const [tbs, signatureAlgorithm] = children(der, expectTag(element(der, 0), 0x30, "the certificate"));
  const fields = children(der, expectTag(tbs, 0x30, "tbsCertificate"));
  // The version is optional ([0]); every field after it sits at a fixed place.
  const at = fields[0]?.tag === 0xa0 ? 1 : 0;
  const issuer = expectTag(fields[at + 2], 0x30, "issuer");
  const validity = children(der, expectTag(fields[at + 3], 0x30, "validity"));
  const subject = expectTag(fields[at + 4], 0x30, "subject");
  const extensions = fields.slice(at + 6).find((field) => field.tag === 0xa3);
  const [algorithm] = children(der, expectTag(signatureAlgorithm, 0x30, "signatureAlgorithm"));
  const signatureOid = oidOf(der, expectTag(algorithm, 0x06, "signatureAlgorithm's OID"));
  const [notBefore, notAfter] = validity;
  if (!notBefore || !notAfter) throw new CertificateParseError("validity is incomplete");
  const altNames = altNamesOf(der, extensions);
  const key = certificate.publicKey;
  const keyDetails = key.asymmetricKeyDetails ?? {};
  const subjectText = nameOf(der, subject);
  const issuerText = nameOf(der, issuer);
  return {
    subject: subjectText,
    issuer: issuerText,
    dnsNames: altNames.dnsNames,
    ipAddresses: altNames.ipAddresses,
    ...(altNames.omitted > 0 ? { sansOmitted: altNames.omitted } : {}),
    serial: certificate.serialNumber.toUpperCase(),
    fingerprint: certificate.fingerprint256,
    notBefore: timeOf(der, notBefore, "notBefore"),
    notAfter: timeOf(der, notAfter, "notAfter"),
    keyType: key.asymmetricKeyType ?? "unknown",
    ...(keyDetails.modulusLength === undefined ? {} : { keyBits: keyDetails.modulusLength }),
    ...(keyDetails.namedCurve === undefined ? {} : { curve: keyDetails.namedCurve }),
    signatureAlgorithm: SIGNATURE_ALGORITHMS[signatureOid] ?? signatureOid,
    selfIssued: der.subarray(subject.start, subject.end).equals(der.subarray(issuer.start, issuer.end)),
  };
}

/** Every certificate in a PEM bundle (a leaf and its chain, say), in the order given. */
export function certificatesFromPem(pem: string): CertificateFacts[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => certificateFacts(block));
}

/** `RSA 2048`, `EC prime256v1`, `ED25519`: the key as people name it. */
export function keyDescription(facts: Pick<CertificateFacts, "keyType" | "keyBits" | "curve">): string {
  const size = facts.keyBits ?? facts.curve;
  return `${facts.keyType.toUpperCase()}${size === undefined ? "" : ` ${size}`}`;
}
