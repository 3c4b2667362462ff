import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type Dispatcher, request } from "undici";
import type { WebhookReceiverConfig } from "../config/schema.js";
import { excerpt, makeRedactor } from "../config/secrets.js";
import { escapeInJson, fit, lookalikes } from "../model/text.js";
import { retryAfterMs } from "../model/time.js";
import type { Alert } from "../model/types.js";
import { type Digest, facts, headline, label, sortAlerts } from "./digest.js";
import { type Language, messages } from "./messages.js";
import { bodyOrNothing, DeliveryError, type Receiver } from "./receiver.js";

/*
 * What the webhook-style receivers (DingTalk, Feishu, WeCom and the generic JSON webhook) share: one POST
 * with a timeout and an honest verdict, and the text rules for chat platforms. Then the generic webhook.
 */

const TIMEOUT_MS = 15_000;
const MAX_WAITS = 3;
const MAX_WAIT_MS = 60_000;

/** Chat platforms answer HTTP 200 with a result code of their own. */
export interface PlatformCodes {
  read: (answer: Record<string, unknown>) => { code: unknown; message: unknown };
  /** Throttling and "busy": worth another run. Every other non-zero code is a refusal. */
  retryable: ReadonlySet<number>;
}

export interface JsonPost {
  /** The channel as error messages name it: "DingTalk". */
  channel: string;
  url: string;
  body: string;
  headers?: Record<string, string>;
  /** What no error message may repeat: the URL (with each part of it: see makeRedactor), the secret, the signature. */
  secrets: (string | undefined)[];
  /** Left out for plain webhooks, whose HTTP status says it all. */
  platform?: PlatformCodes;
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * POSTs a JSON body, waiting as asked on 429 (Retry-After) and backing off on 5xx a few times, as Slack's
 * fetch wrapper does; but each attempt has its own 15 s timeout, so a long Retry-After does not use up the
 * next attempt's time. A timed-out or dropped request is never resent here: the platform may have posted
 * it, and chat posts are not idempotent; the ledger retries it next run. Throws DeliveryError unless delivered.
 */
export async function postJson(post: JsonPost): Promise<void> {
  const redact = makeRedactor(post.secrets);
  const fail = (text: string, retryable: boolean) => new DeliveryError(redact(text), retryable);
  for (let attempt = 0; ; attempt++) {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(post.url, {
        method: "POST",
        headers: { ...post.headers, "content-type": "application/json; charset=utf-8" },
        body: post.body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const { name, code } = error as NodeJS.ErrnoException;
      if (name === "TimeoutError") {
        throw fail(`no answer from ${post.channel} within ${TIMEOUT_MS / 1000} s; it may have posted`, true);
      }
      throw fail(`cannot reach ${post.channel} (${code ?? name})`, true);
    }
    const status = response.statusCode;
    const retryAfter = response.headers["retry-after"];
    const body = await bodyOrNothing(response.body.text(), () => response.body.destroy());
    const ok = status >= 200 && status < 300;
    // A 2xx has the message posted, whatever its body does next: no result code to read means delivered.
    if (ok && body === undefined) return;
    const text = body ?? "";
    const throttled = status === 429;
    if (throttled || status >= 500) {
      const waitMs = (throttled ? retryAfterMs(retryAfter) : undefined) ?? 500 * 2 ** attempt;
      if (attempt < MAX_WAITS && waitMs <= MAX_WAIT_MS) {
        await sleep(waitMs);
        continue;
      }
      throw fail(`${post.channel} answered HTTP ${status} ${excerpt(text, redact)}`, true);
    }
    if (!post.platform) {
      if (ok) return;
      throw fail(`${post.channel} refused the message: HTTP ${status} ${excerpt(text, redact)}`, false);
    }
    const { code, message } = post.platform.read(parseObject(text));
    if (ok && code === 0) return;
    if (typeof code === "number" && code !== 0) {
      const retryable = post.platform.retryable.has(code);
      const verdict = retryable ? "is throttling or busy" : "refused the message";
      throw fail(`${post.channel} ${verdict}: ${code} ${excerpt(String(message ?? ""), redact)}`, retryable);
    }
    throw fail(
      `${post.channel} answered HTTP ${status} without a result code: ${excerpt(text, redact)}`,
      false,
    );
  }
}

/**
 * Characters that make markup in the markdown dialects of DingTalk and WeCom: links and images (`[x](y)`),
 * emphasis, code, HTML such as `<font>`, WeCom's `<@userid>` mention, and entities. Neither platform
 * documents an escape syntax, so they become their full-width look-alikes, which every client shows as text.
 */
const MARKDOWN_SPECIALS = /[\\`*_~[\]<>@&#|]/g;

/**
 * Byte caps on each untrusted part of an alert, so that a fixed number of alerts always fits a message. The place
 * holds the cloud, source and the user's labels (whose it is) before the kind and id.
 */
const CAPS = { title: 64, when: 64, domains: 64, place: 160, todo: 96 };
/** The longest severity label in any language ("resolved", "已恢复") fits. */
const LABEL_BYTES = 16;
/** The most an alert's parts take; receivers add their markup and size messages from it. */
export const ALERT_TEXT_BYTES = Object.values(CAPS).reduce((sum, cap) => sum + cap, LABEL_BYTES);

/** One alert's facts for a chat message: specials made look-alikes, each part capped in bytes. */
export interface ChatAlert {
  label: string;
  title: string;
  when: string;
  domains: string;
  /** Where and what: cloud, product, region, source, labels, kind and id. Starts with a word of ours. */
  place: string;
  /** State and what to do. Starts with a word of ours. */
  todo: string;
}

export function chatAlert(alert: Alert, language: Language, specials = MARKDOWN_SPECIALS): ChatAlert {
  const f = facts(alert, language);
  const part = (text: string, cap: number) =>
    fit(text, cap, { bytes: true, escape: (char) => lookalikes(char, specials) });
  return {
    label: label(alert, language),
    title: part(f.title, CAPS.title),
    when: part(f.when, CAPS.when),
    domains: part(f.domains, CAPS.domains),
    place: part(`${f.where} · ${f.what}`, CAPS.place),
    todo: part(`${f.state} · ${f.action}`, CAPS.todo),
  };
}

/** How many alerts fit a chat markdown message of `messageBytes` (DingTalk, WeCom): a header, then per alert its
 * capped text and some markup. */
export function alertsPerMarkdownMessage(messageBytes: number): number {
  const headerBytes = 256;
  const markupBytes = 64;
  return Math.floor((messageBytes - headerBytes) / (ALERT_TEXT_BYTES + markupBytes));
}

/**
 * One alert in DingTalk's or WeCom's markdown: a label line in the platform's colour for its severity (the
 * attribute value as the platform writes it), then its
 * domains, where and what to do. No line starts with a name or domain, where `-`, `1.` or `===` would make a
 * list or a heading.
 */
export function markdownAlert(
  alert: Alert,
  language: Language,
  colours: Record<Alert["severity"] | "resolved", string>,
  lineBreak: string,
): string {
  const a = chatAlert(alert, language);
  const colour = colours[alert.transition === "resolved" ? "resolved" : alert.severity];
  const head = `**<font color=${colour}>[${a.label}]</font> ${a.title}** ${a.when}`;
  return [head, `🌐 ${a.domains}`, a.place, a.todo].join(lineBreak);
}

/** `certwatch: 2 critical, 5 warning (1/3)`, or the test message's title. */
export function chatTitle(digest: Digest, language: Language): string {
  if (digest.test) return messages[language].test.title;
  const part = digest.part && digest.part.count > 1 ? ` (${digest.part.index}/${digest.part.count})` : "";
  return `certwatch: ${headline(digest.alerts, language)}${part}`;
}

/** The line under the title: when the digest was made, or what a test message means. */
export function chatIntro(digest: Digest, language: Language): string {
  const words = messages[language];
  return digest.test ? words.test.body : words.generated(digest.generatedAt);
}

/**
 * A digest as plain lines, as Feishu posts it: the intro, then per alert its label, name and when; its domains;
 * where and what it is; what to do.
 */
export function chatLines(digest: Digest, language: Language, specials: RegExp): string[] {
  return [
    chatIntro(digest, language),
    ...sortAlerts(digest.alerts).flatMap((alert) => {
      const a = chatAlert(alert, language, specials);
      return [`[${a.label}] ${a.title} · ${a.when}`, a.domains, a.place, a.todo];
    }),
  ];
}

/** Plain text, as a terminal shows it: no character is markup. */
const NO_MARKUP = /(?!)/g;

/** Alerts per body: with WEBHOOK_CAPS, 100 keep it under the 1 MB most gateways accept. */
const WEBHOOK_ALERTS_PER_MESSAGE = 100;

/**
 * Caps on the untrusted values of the generic webhook's alerts, which otherwise go as they are (line breaks
 * included: the body is for programs): about 8,000 characters an alert at most, however long a vendor's names are.
 * Ids (fingerprint, key, native id) are never cut: a program matches and acknowledges by them, and the store's keys
 * already bound their length.
 */
const WEBHOOK_CAPS = { text: 500, domain: 253, domains: 10, entries: 10, entryKey: 64, entryValue: 128 };

function capped(record: Record<string, string | undefined> | undefined) {
  if (!record) return undefined;
  return Object.fromEntries(
    Object.entries(record)
      .slice(0, WEBHOOK_CAPS.entries)
      .map(([key, value]) => [
        fit(key, WEBHOOK_CAPS.entryKey),
        value === undefined ? undefined : fit(value, WEBHOOK_CAPS.entryValue),
      ]),
  );
}

/** The structured alert: raw values for machines, and the summary and action in the receiver's language. */
function alertFields(alert: Alert, language: Language) {
  const words = messages[language];
  const { object } = alert;
  const text = (value: string) => fit(value, WEBHOOK_CAPS.text);
  return {
    fingerprint: alert.fingerprint,
    rule: alert.rule,
    stage: alert.stage,
    severity: alert.severity,
    transition: alert.transition,
    summary: text(words.when(alert)),
    action: text(words.action(alert)),
    name: text(object.name),
    domains: object.domains.slice(0, WEBHOOK_CAPS.domains).map((domain) => fit(domain, WEBHOOK_CAPS.domain)),
    domainCount: object.domains.length,
    kind: object.kind,
    nativeId: object.nativeId,
    key: object.key,
    status: object.status,
    rawStatus: fit(object.rawStatus, WEBHOOK_CAPS.entryValue),
    notAfter: object.notAfter,
    daysLeft: alert.daysLeft,
    revokedAt: object.revokedAt,
    labels: capped(object.labels),
    details: capped(object.details),
  };
}

/**
 * The JSON body. `<`, `>` and `&` are written as \u escapes (as Go's encoding/json does): the values read
 * back exactly, yet a consumer that pastes the body into HTML or a chat message gets no markup from it.
 */
export function webhookBody(digest: Digest, language: Language = "en"): string {
  const payload = {
    source: "certwatch",
    generatedAt: digest.generatedAt,
    part: digest.part,
    test: digest.test,
    headline: chatTitle(digest, language),
    alerts: sortAlerts(digest.alerts).map((alert) => alertFields(alert, language)),
  };
  return escapeInJson(JSON.stringify(payload), /[<>&\u2028\u2029]/g);
}

/**
 * `X-Certwatch-Signature: sha256=<hex>` is the HMAC-SHA256, keyed with the shared secret, of
 * `${X-Certwatch-Timestamp}.${body}`: Unix seconds, a dot, then the exact bytes of the body. Signing the
 * timestamp with the body lets a receiver refuse replays: it recomputes the HMAC, compares in constant time,
 * and rejects timestamps more than 5 minutes from its clock.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export function webhookReceiver(config: WebhookReceiverConfig): Receiver {
  return {
    name: config.name,
    type: "webhook",
    maxAlertsPerMessage: WEBHOOK_ALERTS_PER_MESSAGE,
    // The body is for programs; a person reads its alerts as lines.
    preview: (digest) =>
      [chatTitle(digest, config.language), ...chatLines(digest, config.language, NO_MARKUP)].join("\n"),
    payload: (digest) => webhookBody(digest, config.language),
    async send(digest) {
      const body = webhookBody(digest, config.language);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = config.secret ? webhookSignature(config.secret, timestamp, body) : undefined;
      await postJson({
        channel: "the webhook",
        url: config.url,
        body,
        // The user's headers first: theirs cannot replace the signature.
        headers: {
          ...config.headers,
          ...(signature && { "x-certwatch-timestamp": timestamp, "x-certwatch-signature": signature }),
        },
        secrets: [config.url, config.secret, signature, ...Object.values(config.headers ?? {})],
      });
    },
    close: async () => undefined,
  };
}
