/*
 * Local TLS sites for tests, the demo and the benchmark: certificates made here, served on 127.0.0.1 with one chain
 * per SNI name. Certificates are written as DER by a small encoder and signed with node:crypto, rather than by the
 * machine's `openssl` or a dev dependency: OpenSSL 3.0's `x509` cannot set an arbitrary notBefore (no -not_before),
 * and a DER encoder of a few dozen lines gives every case needed (validity in the past or future, intermediates,
 * RSA 1024, SHA-1, hostile names of any size) with nothing to install and nothing that can drift between machines.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { isIPv4 } from "node:net";
import { createSecureContext, createServer, type SecureContext, type Server } from "node:tls";

/** Every test context accepts weak keys and SHA-1: serving them is what some cases are about. */
const ANY_STRENGTH = "DEFAULT:@SECLEVEL=0";

function length(size: number): Buffer {
  if (size < 0x80) return Buffer.from([size]);
  const bytes: number[] = [];
  for (let rest = size; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

const sequence = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));
const explicit = (tag: number, content: Buffer) => tlv(0xa0 + tag, content);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, "utf8"));
const NULL = Buffer.from([0x05, 0x00]);

function integer(value: Buffer): Buffer {
  // A positive INTEGER whose high bit is set needs a leading zero byte.
  return tlv(0x02, value[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value);
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [first * 40 + second];
  for (const part of rest) {
    const chunk = [part & 0x7f];
    for (let value = Math.floor(part / 128); value > 0; value = Math.floor(value / 128))
      chunk.unshift(0x80 | (value & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime after (and before 1950). */
function time(at: Date): Buffer {
  const iso = at.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const year = at.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}

function name(commonName: string): Buffer {
  return sequence(set(sequence(oid("2.5.4.3"), utf8(commonName))));
}

function ipBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split(".").map(Number));
  const [head = "", tail = ""] = address.split("::");
  const groups = (text: string) => (text ? text.split(":") : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = [...groups(head), ...Array<string>(missing).fill("0"), ...groups(tail)];
  return Buffer.concat(all.map((group) => Buffer.from(group.padStart(4, "0"), "hex")));
}

export type KeyKind = { rsa: number } | "ec";

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function makeKey(kind: KeyKind = "ec"): KeyPair {
  return kind === "ec"
    ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
    : generateKeyPairSync("rsa", { modulusLength: kind.rsa });
}

export interface Issued {
  pem: string;
  der: Buffer;
  key: KeyPair;
  commonName: string;
}

export interface CertificateOptions {
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  notBefore: Date;
  notAfter: Date;
  /** Self-signed when absent. */
  issuer?: Issued;
  key?: KeyPair;
  /** A CA (basicConstraints cA): roots and intermediates. */
  ca?: boolean;
  hash?: "sha256" | "sha1";
}

/** The signature AlgorithmIdentifier for a key type and hash; RSA carries a NULL parameter, ECDSA none. */
function signatureAlgorithm(key: KeyObject, hash: "sha256" | "sha1"): Buffer {
  if (key.asymmetricKeyType === "rsa")
    return sequence(oid(hash === "sha1" ? "1.2.840.113549.1.1.5" : "1.2.840.113549.1.1.11"), NULL);
  return sequence(oid(hash === "sha1" ? "1.2.840.10045.4.1" : "1.2.840.10045.4.3.2"));
}

export function makeCertificate(options: CertificateOptions): Issued {
  const key = options.key ?? makeKey();
  const signer = options.issuer?.key ?? key;
  const hash = options.hash ?? "sha256";
  const algorithm = signatureAlgorithm(signer.privateKey, hash);
  const extensions: Buffer[] = [];
  if (options.ca)
    extensions.push(
      sequence(
        oid("2.5.29.19"),
        tlv(0x01, Buffer.from([0xff])),
        tlv(0x04, sequence(tlv(0x01, Buffer.from([0xff])))),
      ),
    );
  const sans = [
    ...(options.dnsNames ?? []).map((dns) => tlv(0x82, Buffer.from(dns, "latin1"))),
    ...(options.ipAddresses ?? []).map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  if (sans.length) extensions.push(sequence(oid("2.5.29.17"), tlv(0x04, sequence(...sans))));
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(Buffer.concat([Buffer.from([0x01]), randomBytes(15)])),
    algorithm,
    name(options.issuer?.commonName ?? options.commonName),
    sequence(time(options.notBefore), time(options.notAfter)),
    name(options.commonName),
    key.publicKey.export({ type: "spki", format: "der" }),
    ...(extensions.length ? [explicit(3, sequence(...extensions))] : []),
  );
  const signature = sign(hash, tbs, signer.privateKey);
  const der = sequence(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const body = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return {
    pem: `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`,
    der,
    key,
    commonName: options.commonName,
  };
}

const DAY = 86_400_000;

/** A root and an intermediate under it, valid from a year ago for `days` more days unless told otherwise. */
export function makeCa(
  now: Date,
  intermediateNotAfter = new Date(now.getTime() + 3650 * DAY),
): { root: Issued; intermediate: Issued } {
  const root = makeCertificate({
    commonName: "certwatch test root",
    notBefore: new Date(now.getTime() - 365 * DAY),
    notAfter: new Date(now.getTime() + 7300 * DAY),
    ca: true,
  });
  const intermediate = makeCertificate({
    commonName: "certwatch test intermediate",
    notBefore: new Date(now.getTime() - 365 * DAY),
    notAfter: intermediateNotAfter,
    issuer: root,
    ca: true,
  });
  return { root, intermediate };
}

/** A leaf for `dnsNames` issued by `issuer`, ending `days` days after `now` (negative: already expired). */
export function makeLeaf(
  now: Date,
  dnsNames: string[],
  days: number,
  issuer?: Issued,
  extra: Partial<CertificateOptions> = {},
): Issued {
  return makeCertificate({
    commonName: dnsNames[0] ?? "leaf",
    dnsNames,
    notBefore: new Date(now.getTime() - 30 * DAY),
    notAfter: new Date(now.getTime() + days * DAY),
    issuer,
    ...extra,
  });
}

/**
 * One TLS server on 127.0.0.1 that serves a different chain per SNI name, switchable between sweeps. `inFlight`
 * and `mostInFlight` count handshakes whose certificate choice is pending, which `delayMs` holds open.
 */
export class TlsSite {
  private readonly contexts = new Map<string, SecureContext>();
  private readonly refused = new Set<string>();
  private server?: Server;
  port = 0;
  delayMs = 0;
  inFlight = 0;
  mostInFlight = 0;
  handshakes = 0;

  /** Serves `chain` (leaf first) to clients that send `serverName`; `*` for clients whose name is not listed. */
  serve(serverName: string, chain: Issued[]): this {
    const [leaf] = chain;
    if (!leaf) throw new Error("serve: a chain needs at least its leaf");
    this.refused.delete(serverName);
    this.contexts.set(
      serverName,
      createSecureContext({
        key: leaf.key.privateKey.export({ type: "pkcs8", format: "pem" }),
        cert: chain.map((certificate) => certificate.pem).join(""),
        ciphers: ANY_STRENGTH,
      }),
    );
    return this;
  }

  /** Fails every handshake for `serverName` until it is served again. */
  stopServing(serverName: string): void {
    this.contexts.delete(serverName);
    this.refused.add(serverName);
  }

  async start(): Promise<this> {
    this.server = createServer({
      ciphers: ANY_STRENGTH,
      SNICallback: (serverName, done) => {
        this.handshakes++;
        this.inFlight++;
        this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
        const answer = () => {
          this.inFlight--;
          const context = this.refused.has(serverName)
            ? undefined
            : (this.contexts.get(serverName) ?? this.contexts.get("*"));
          done(context ? null : new Error(`no certificate for ${serverName}`), context);
        };
        // Even a 0 ms timer costs a millisecond: without a delay, answer at once.
        if (this.delayMs > 0) setTimeout(answer, this.delayMs);
        else answer();
      },
    });
    this.server.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
