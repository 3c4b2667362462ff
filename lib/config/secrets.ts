import { fit, oneLine } from "../model/text.js";
import type { Config } from "./schema.js";

/** Every secret value in a config: what must never appear in output, logs, errors or the store. */
export function secretValues(config: Config): string[] {
  const values: (string | undefined)[] = [];
  for (const source of config.sources) {
    const { secretKey, securityToken } = source.credentials;
    values.push(secretKey, securityToken);
    if ("token" in source.credentials) values.push(source.credentials.token);
  }
  for (const receiver of config.receivers) {
    if (receiver.type === "slack") values.push(receiver.webhookUrl);
    if (receiver.type === "email") values.push(receiver.smtp?.pass);
    if (receiver.type === "dingtalk" || receiver.type === "feishu")
      values.push(receiver.webhookUrl, receiver.secret);
    if (receiver.type === "wecom") values.push(receiver.webhookUrl);
    // Extra headers are there to carry a token more often than not.
    if (receiver.type === "webhook")
      values.push(receiver.url, receiver.secret, ...Object.values(receiver.headers ?? {}));
  }
  values.push(config.heartbeatUrl);
  return values.filter((value): value is string => typeof value === "string");
}

/** Shorter texts are not masked: masking them would mangle ordinary words. */
const MIN_MASKED_LENGTH = 4;

/** Query parameters whose name says they carry a credential: DingTalk's access_token, WeCom's key, a sign. */
const CREDENTIAL_PARAMETER = /token|key|secret|sig|auth|pass|cred|code/i;

/** A generated token rather than a word: long, or letters mixed with digits (`B07ABC123`), unlike `services`. */
function looksGenerated(text: string): boolean {
  return text.length >= 16 || (text.length >= 6 && /\d/.test(text) && /[a-z]/i.test(text));
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * What of a secret is a secret on its own, because a server may echo just that: of a URL its path and query, each
 * generated-looking path segment, each credential-like query value, and its user info; of a header value such as
 * `Bearer <token>`, each generated-looking word.
 */
function secretParts(secret: string): string[] {
  const words = secret.split(/\s+/).filter(looksGenerated);
  let url: URL;
  try {
    url = new URL(secret);
  } catch {
    return [secret, ...words];
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return [secret, ...words];
  const segments = url.pathname.split("/").flatMap((segment) => [segment, decoded(segment)]);
  const query = [...url.searchParams].filter(
    ([name, value]) => CREDENTIAL_PARAMETER.test(name) || looksGenerated(value),
  );
  return [
    secret,
    url.pathname + url.search,
    url.pathname,
    url.search.slice(1),
    ...segments.filter(looksGenerated),
    ...query.map(([, value]) => value),
    url.username,
    url.password,
    decoded(url.username),
    decoded(url.password),
  ];
}

/** How a part may come back in a server's answer or our own JSON: as is, percent-encoded, JSON-escaped. */
function writtenForms(part: string): string[] {
  const encoded = encodeURIComponent(part);
  const json = JSON.stringify(part).slice(1, -1);
  return [
    part,
    encoded,
    encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    json,
    json.replaceAll("/", "\\/"),
  ];
}

/**
 * Replaces every secret in a text with a mask: each whole secret, and each part of it a server may echo alone (see
 * `secretParts`), in every written form. Longest first, so that a secret is masked whole before its parts.
 */
export function makeRedactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  let seen = -1;
  let sorted: string[] = [];
  return (text) => {
    // Secrets obtained while running (temporary credentials) join every redactor, made before or after them.
    if (seen !== runtimeGeneration) {
      seen = runtimeGeneration;
      const masked = new Set<string>();
      for (const secret of [...secrets, ...runtimeSecrets]) {
        if (!secret) continue;
        for (const part of secretParts(secret)) {
          for (const form of writtenForms(part)) if (form.length >= MIN_MASKED_LENGTH) masked.add(form);
        }
      }
      sorted = [...masked].sort((a, b) => b.length - a.length);
    }
    return sorted.reduce((out, secret) => out.split(secret).join("***"), text);
  };
}

/**
 * The most runtime secrets kept. Temporary credentials are added at each refresh (hours apart); the oldest, long
 * expired, make way in a process that lives for weeks. An organization's run holds two per member (a secret and a
 * token), and all of a 1,000-account run's must still be masked while its sweeps report.
 */
const MAX_RUNTIME_SECRETS = 5_000;
const runtimeSecrets: string[] = [];
let runtimeGeneration = 0;

/**
 * A secret that is not in the config but was obtained while running: a temporary AccessKey secret and security
 * token from STS, keys read from the vendor's credential chain. Every redactor masks it from then on.
 */
export function registerRuntimeSecret(...values: (string | undefined)[]): void {
  for (const value of values) {
    if (!value || runtimeSecrets.includes(value)) continue;
    runtimeSecrets.push(value);
    if (runtimeSecrets.length > MAX_RUNTIME_SECRETS) runtimeSecrets.shift();
    runtimeGeneration++;
  }
}

/** How much of a server's answer an error message quotes: enough to recognise the cause, never a whole page. */
const EXCERPT_CHARS = 300;

/**
 * A server's answer as an error message may quote it. Secrets are masked first, on the whole text: cut first, a
 * secret could be left half there, which masking no longer recognises. Then it is made one line without control
 * characters (no forged lines, no terminal escapes), and cut.
 */
export function excerpt(answer: string, redact: (text: string) => string): string {
  return fit(oneLine(redact(answer)).replace(/\s+/g, " ").trim(), EXCERPT_CHARS);
}
