import { setTimeout as sleep } from "node:timers/promises";
import {
  type FetchFunction,
  IncomingWebhook,
  IncomingWebhookHTTPError,
  IncomingWebhookRequestError,
} from "@slack/webhook";
import type { SlackReceiverConfig } from "../config/schema.js";
import { excerpt, makeRedactor } from "../config/secrets.js";
import { fit, lookalikes } from "../model/text.js";
import { retryAfterMs } from "../model/time.js";
import type { Alert } from "../model/types.js";
import { type Digest, escapeSlack, FACT_CHARS, facts, headline, label, sortAlerts } from "./digest.js";
import { type Language, messages } from "./messages.js";
import { bodyOrNothing, DeliveryError, type Receiver } from "./receiver.js";

/** Slack allows 50 blocks a message; two go to the header and context. */
const ALERTS_PER_MESSAGE = 45;
const MAX_WAITS = 3;
const ATTEMPT_TIMEOUT_MS = 15_000;
const MAX_RATE_LIMIT_WAIT_MS = 60_000;

const ICON: Record<Alert["severity"], string> = {
  critical: ":red_circle:",
  warning: ":large_orange_circle:",
  info: ":large_blue_circle:",
};

/**
 * @slack/webhook treats 429 as final and hides Retry-After; this fetch waits as Slack asks, and retries a 5xx
 * with backoff, a few times. It never retries a timeout or a dropped connection: Slack may have posted the
 * message already, and a webhook post is not idempotent. The ledger retries those on the next run.
 */
export function fetchHonouringRetryAfter(
  waits = MAX_WAITS,
  maxWaitMs = MAX_RATE_LIMIT_WAIT_MS,
): FetchFunction {
  return async (url, init) => {
    for (let attempt = 0; ; attempt++) {
      // Each attempt gets its own timeout: one shared deadline would be used up by a long Retry-After.
      const stop = new AbortController();
      const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]);
      const response = await fetch(url, { ...init, signal });
      if (response.ok) {
        // Posted: a body that stalls or breaks off now must not turn it into a failure, and a second post.
        const body = await bodyOrNothing(response.text(), () => stop.abort());
        return new Response(body ?? "", { status: response.status, headers: response.headers });
      }
      const throttled = response.status === 429;
      if ((!throttled && response.status < 500) || attempt >= waits) return response;
      const waitMs =
        (throttled ? retryAfterMs(response.headers.get("retry-after")) : undefined) ?? 500 * 2 ** attempt;
      if (waitMs > maxWaitMs) return response;
      await response.arrayBuffer();
      await sleep(waitMs);
    }
  };
}

/**
 * Emphasis and code markers. Slack has no escape for them, and where it starts emphasis is undocumented (a
 * zero-width space is the usual trick to force it mid-word), so in untrusted text they become full-width
 * look-alikes, as in the chat receivers: shown as text by every client, and visibly what was there.
 */
const MRKDWN_SPECIALS = /[*_~`]/g;
/** Inside a code span only a backtick (which would end it) acts; the rest stays exact, to copy and paste. */
const BACKTICK = /`/g;

/** Untrusted text in mrkdwn, at most `maxChars` once escaped. */
const mrkdwn = (text: string, maxChars: number) =>
  fit(text, maxChars, { escape: (char) => escapeSlack(lookalikes(char, MRKDWN_SPECIALS)) });
const code = (text: string, maxChars: number) =>
  fit(text, maxChars, { escape: (char) => escapeSlack(lookalikes(char, BACKTICK)) });

/** One section: each fact capped, once escaped, at FACT_CHARS, which keeps it within Slack's 3,000 characters. */
function alertText(alert: Alert, language: Language): string {
  const f = facts(alert, language);
  const icon = alert.transition === "resolved" ? ":white_check_mark:" : ICON[alert.severity];
  const lines = [
    `${icon} *${mrkdwn(f.title, FACT_CHARS.title)}* ${mrkdwn(f.when, FACT_CHARS.when)}`,
    mrkdwn(f.domains, FACT_CHARS.domains),
    `_${mrkdwn(f.where, FACT_CHARS.where)}_ · ${mrkdwn(f.what, FACT_CHARS.what)}`,
    `${mrkdwn(f.state, FACT_CHARS.state)} · ${mrkdwn(f.action, FACT_CHARS.action)}`,
    ...(f.ack ? [`_${messages[language].toAcknowledge}:_ \`${code(f.ack, FACT_CHARS.ack)}\``] : []),
  ];
  return lines.join("\n");
}

function title(digest: Digest, language: Language): string {
  if (digest.test) return messages[language].test.title;
  const part = digest.part && digest.part.count > 1 ? ` (${digest.part.index}/${digest.part.count})` : "";
  return `certwatch: ${headline(digest.alerts, language)}${part}`;
}

/** Per alert in the fallback text: short, as 45 of them share one message. */
const FALLBACK_CHARS = { title: 100, when: 150, domains: 100 };

/** The plain-text fallback Slack shows in notifications and to clients without Block Kit. */
export function fallbackText(digest: Digest, language: Language = "en"): string {
  if (digest.test) return `${messages[language].test.title}: ${messages[language].test.body}`;
  const lines = sortAlerts(digest.alerts).map((alert) => {
    const f = facts(alert, language);
    const [name, when, domains] = [
      mrkdwn(f.title, FALLBACK_CHARS.title),
      mrkdwn(f.when, FALLBACK_CHARS.when),
      mrkdwn(f.domains, FALLBACK_CHARS.domains),
    ];
    return `• [${label(alert, language)}] ${name} ${when} (${domains})`;
  });
  return [escapeSlack(title(digest, language)), ...lines].join("\n");
}

/**
 * `verbatim: true` on every mrkdwn text: Slack then links no bare URL or domain and parses no channel name or
 * mention in the text, while still showing our own markup.
 */
export function slackMessage(digest: Digest, language: Language = "en") {
  const words = messages[language];
  const context = digest.test
    ? `certwatch test-notify: ${words.test.body}`
    : words.generated(digest.generatedAt);
  return {
    text: fallbackText(digest, language),
    blocks: [
      {
        type: "header",
        text: { type: "plain_text", text: title(digest, language).slice(0, 150), emoji: true },
      },
      { type: "context", elements: [{ type: "mrkdwn", text: escapeSlack(context), verbatim: true }] },
      ...sortAlerts(digest.alerts).map((alert) => ({
        type: "section",
        text: { type: "mrkdwn", text: alertText(alert, language), verbatim: true },
      })),
    ],
  };
}

/**
 * What a refusal means for the operator: Slack busy (try again next run) or the webhook broken (fix it). A server
 * may echo the webhook's path, its token, in the body: `redact` masks it.
 */
function describeHttpFailure(
  error: IncomingWebhookHTTPError,
  redact: (text: string) => string,
): DeliveryError {
  const body = excerpt(error.body, redact);
  if (error.statusCode === 429) {
    return new DeliveryError("Slack is still rate limiting (429) after waiting as asked", true);
  }
  if (error.statusCode >= 500) return new DeliveryError(`Slack answered ${error.statusCode} ${body}`, true);
  return new DeliveryError(
    `Slack rejected the message: ${error.statusCode} ${body}; check the webhook URL and that the channel exists`,
    false,
  );
}

export function slackReceiver(config: SlackReceiverConfig, fetchFn = fetchHonouringRetryAfter()): Receiver {
  const redact = makeRedactor([config.webhookUrl]);
  const webhook = new IncomingWebhook(config.webhookUrl, {
    fetch: fetchFn,
    // No library-level retries: they would repeat a post that timed out but went through.
    retryConfig: { retries: 0 },
  });
  return {
    name: config.name,
    type: "slack",
    maxAlertsPerMessage: ALERTS_PER_MESSAGE,
    preview: (digest) => fallbackText(digest, config.language),
    payload: (digest) => JSON.stringify(slackMessage(digest, config.language)),
    async send(digest) {
      try {
        await webhook.send(slackMessage(digest, config.language));
      } catch (error) {
        if (error instanceof IncomingWebhookHTTPError) throw describeHttpFailure(error, redact);
        if (error instanceof IncomingWebhookRequestError) {
          const cause = error.original.cause as NodeJS.ErrnoException | undefined;
          const reason = cause?.code ?? cause?.message ?? error.original.message;
          throw new DeliveryError(redact(`cannot reach Slack (${reason})`), true);
        }
        throw error;
      }
    },
    close: async () => undefined,
  };
}
