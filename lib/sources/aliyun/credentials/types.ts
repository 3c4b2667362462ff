import { registerRuntimeSecret } from "../../../config/secrets.js";
import type { CallStats, HttpClient } from "../../http.js";

/** An AccessKey pair, with the security token and end of life of temporary keys. */
export interface AliyunKeys {
  accessKey: string;
  secretKey: string;
  securityToken?: string;
  /** When temporary keys stop working (epoch milliseconds). */
  expiresAt?: number;
}

/** What obtaining keys may use: the run's HTTP client and budget counters. Passed per call: sources outlive runs. */
export interface CredentialIo {
  http: HttpClient;
  stats: CallStats;
  signal?: AbortSignal;
  redact?: (text: string) => string;
  timeoutMs: number;
}

/** Where a source's keys come from. */
export interface CredentialSource {
  /** For `validate` and errors: `from ALIBABA_CLOUD_* environment variables`. Never holds a secret. */
  readonly description: string;
  /** Keys to sign with now; temporary ones are renewed before they expire. */
  get(io: CredentialIo): Promise<AliyunKeys>;
  /**
   * The vendor answered `InvalidSecurityToken.Expired` to a call signed with `stale`: new keys, obtained once however
   * many calls met the same answer. Absent for keys nothing can renew.
   */
  renew?(io: CredentialIo, stale: AliyunKeys): Promise<AliyunKeys>;
}

/** Keys given as they are: in the config, the environment or a file. */
export function fixedKeys(keys: AliyunKeys, description: string): CredentialSource {
  return { description, get: () => Promise.resolve(keys) };
}

/** Renewal starts when less than this remains (or 10% of the keys' lifetime, when that is longer). */
export const RENEW_BEFORE_MS = 5 * 60_000;

/**
 * Temporary keys from `obtain`, kept until close to their end: renewed when less than 5 minutes or 10% of their
 * lifetime remain, one request at a time however many calls ask at once.
 */
export class RenewingKeys implements CredentialSource {
  private current: { keys: AliyunKeys; renewAt: number } | undefined;
  private pending: Promise<AliyunKeys> | undefined;

  constructor(
    private readonly describe: string | (() => string),
    private readonly obtain: (io: CredentialIo) => Promise<AliyunKeys>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Told when asked: what it rests on (a chain) may only know once keys were obtained. */
  get description(): string {
    return typeof this.describe === "string" ? this.describe : this.describe();
  }

  get(io: CredentialIo): Promise<AliyunKeys> {
    if (this.current && this.now() < this.current.renewAt) return Promise.resolve(this.current.keys);
    return this.fetch(io);
  }

  renew(io: CredentialIo, stale: AliyunKeys): Promise<AliyunKeys> {
    // Another call already replaced the keys that were refused: use the new ones.
    if (this.current && this.current.keys.accessKey !== stale.accessKey)
      return Promise.resolve(this.current.keys);
    this.current = undefined;
    return this.fetch(io);
  }

  private fetch(io: CredentialIo): Promise<AliyunKeys> {
    this.pending ??= this.obtain(io)
      .then((keys) => {
        const obtainedAt = this.now();
        const lifetime = (keys.expiresAt ?? Infinity) - obtainedAt;
        // Keys that live less than 10 minutes are still used for half their life, not renewed at every call.
        const margin = Math.min(Math.max(RENEW_BEFORE_MS, lifetime / 10), lifetime / 2);
        this.current = { keys, renewAt: (keys.expiresAt ?? Infinity) - margin };
        return keys;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}

/** `2026-11-22T08:01:02Z` as epoch milliseconds; the field's name in the error when it is not a UTC ISO time. */
export function expirationOf(value: unknown, where: string): number {
  const at = typeof value === "string" && /Z$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(at)) throw new Error(`${where}: Expiration is not a UTC ISO 8601 time`);
  return at;
}

/**
 * Temporary keys as every vendor answer that serves them holds them (`AccessKeyId`, `AccessKeySecret`,
 * `SecurityToken`, `Expiration`; under `path` in the answer), registered as secrets before anything may print them.
 */
export function temporaryKeysOf(fields: Record<string, unknown>, call: string, path = ""): AliyunKeys {
  const field = (name: string): string => {
    const value = fields[name];
    if (typeof value !== "string" || value === "") {
      throw new Error(`${call} returned a malformed answer: ${path}${name} is missing or not a string`);
    }
    return value;
  };
  const keys = {
    accessKey: field("AccessKeyId"),
    secretKey: field("AccessKeySecret"),
    securityToken: field("SecurityToken"),
  };
  registerRuntimeSecret(keys.secretKey, keys.securityToken);
  return { ...keys, expiresAt: expirationOf(fields.Expiration, `${call}: ${path}`.replace(/[.: ]+$/, "")) };
}
