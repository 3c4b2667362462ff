import { setTimeout as sleep } from "node:timers/promises";
import {
  type FetchFunction,
  IncomingWebhook,
  IncomingWebhookHTTPError,
  IncomingWebhookRequestError,
} from "@slack/webhook";
import type { SlackReceiverConfig } from "../config/schema.js";
import { retryAfterMs } from "../model/time.js";
import type { Alert } from "../model/types.js";
import { type Digest, escapeSlack, facts, headline, label, sortAlerts } from "./digest.js";
import { type Language, messages } from "./messages.js";
import { bodyOrNothing, DeliveryError, type Receiver } from "./receiver.js";

/** Slack allows 50 blocks a message; two go to the header and context. */
const ALERTS_PER_MESSAGE = 45;
const SECTION_TEXT_LIMIT = 3000;
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

function alertText(alert: Alert, language: Language): string {
  const f = facts(alert, language);
  const icon = alert.transition === "resolved" ? ":white_check_mark:" : ICON[alert.severity];
  const lines = [
    `${icon} *${escapeSlack(f.title)}* ${escapeSlack(f.when)}`,
    escapeSlack(f.domains),
    `_${escapeSlack(f.where)}_ · ${escapeSlack(f.what)}`,
    `${f.state} · ${escapeSlack(f.action)}`,
    ...(f.ack ? [`_${messages[language].toAcknowledge}:_ \`${escapeSlack(f.ack)}\``] : []),
  ];
  return lines.join("\n").slice(0, SECTION_TEXT_LIMIT);
}

function title(digest: Digest, language: Language): string {
  if (digest.test) return messages[language].test.title;
  const part = digest.part && digest.part.count > 1 ? ` (${digest.part.index}/${digest.part.count})` : "";
  return `certwatch: ${headline(digest.alerts, language)}${part}`;
}

/** The plain-text fallback Slack shows in notifications and to clients without Block Kit. */
export function fallbackText(digest: Digest, language: Language = "en"): string {
  if (digest.test) return `${messages[language].test.title}: ${messages[language].test.body}`;
  const lines = sortAlerts(digest.alerts).map((alert) => {
    const f = facts(alert, language);
    return `• [${label(alert, language)}] ${f.title} ${f.when} (${f.domains})`;
  });
  return escapeSlack([title(digest, language), ...lines].join("\n"));
}

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
      { type: "context", elements: [{ type: "mrkdwn", text: escapeSlack(context) }] },
      ...sortAlerts(digest.alerts).map((alert) => ({
        type: "section",
        text: { type: "mrkdwn", text: alertText(alert, language) },
      })),
    ],
  };
}

/** What a refusal means for the operator: Slack busy (try again next run) or the webhook broken (fix it). */
function describeHttpFailure(error: IncomingWebhookHTTPError): DeliveryError {
  const body = error.body.slice(0, 100).replace(/\s+/g, " ");
  if (error.statusCode === 429) {
    return new DeliveryError(
      "Slack is still rate limiting (429) after waiting as asked; will retry next run",
      true,
    );
  }
  if (error.statusCode >= 500) return new DeliveryError(`Slack answered ${error.statusCode} ${body}`, true);
  return new DeliveryError(
    `Slack rejected the message: ${error.statusCode} ${body}; check the webhook URL and that the channel exists`,
    false,
  );
}

export function slackReceiver(config: SlackReceiverConfig, fetchFn = fetchHonouringRetryAfter()): Receiver {
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
    async send(digest) {
      try {
        await webhook.send(slackMessage(digest, config.language));
      } catch (error) {
        if (error instanceof IncomingWebhookHTTPError) throw describeHttpFailure(error);
        if (error instanceof IncomingWebhookRequestError) {
          const cause = error.original.cause as NodeJS.ErrnoException | undefined;
          const reason = cause?.code ?? cause?.message ?? error.original.message;
          throw new DeliveryError(`cannot reach Slack (${reason}); will retry next run`, true);
        }
        throw error;
      }
    },
    close: async () => undefined,
  };
}
