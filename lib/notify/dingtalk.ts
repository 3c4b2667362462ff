import { createHmac } from "node:crypto";
import type { DingtalkReceiverConfig } from "../config/schema.js";
import type { Alert } from "../model/types.js";
import { type Digest, sortAlerts } from "./digest.js";
import type { Language } from "./messages.js";
import type { Receiver } from "./receiver.js";
import {
  alertsPerMarkdownMessage,
  chatIntro,
  chatTitle,
  markdownAlert,
  type PlatformCodes,
  postJson,
} from "./webhook.js";

/**
 * DingTalk documents no size for a robot's markdown; its global error 34016 caps markdown at 5000
 * characters. Each message stays under 4096 bytes of UTF-8 (so under 5000 characters in any script), as
 * WeCom's do.
 */
const ALERTS_PER_MESSAGE = alertsPerMarkdownMessage(4096);

/**
 * errcode 0 is success. 130101 ("send too fast, exceed 20 times per minute"; the robot is then muted for 10
 * minutes) is throttling, as is 410100 (发送速度太快而限流) in DingTalk's newer robot error list, and -1 is
 * DingTalk's global "system busy": all worth another run, none worth waiting for within this one. Everything
 * else is for the operator: 310000 (sign not match, keywords not in content, IP not allowed), 300001 (token).
 * Sources: open.dingtalk.com "自定义机器人接入" and the answers users report; DingTalk's global error codes.
 */
const DINGTALK_CODES: PlatformCodes = {
  read: (answer) => ({ code: answer.errcode, message: answer.errmsg }),
  retryable: new Set([-1, 130101, 410100]),
};

const COLOUR: Record<Alert["severity"] | "resolved", string> = {
  critical: "#d93026",
  warning: "#e37400",
  info: "#1a73e8",
  resolved: "#188038",
};

/** The "加签" signature: HMAC-SHA256 of `${timestamp}\n${secret}` keyed with the secret, base64. */
export function dingtalkSignature(secret: string, timestampMs: number): string {
  return createHmac("sha256", secret).update(`${timestampMs}\n${secret}`).digest("base64");
}

/**
 * A markdown message. `title` shows in notifications and the chat list; it and the text carry "certwatch",
 * the word to set as the robot's custom keyword when that security option is used.
 */
export function dingtalkMarkdown(digest: Digest, language: Language = "en") {
  const title = chatTitle(digest, language);
  // DingTalk's markdown breaks a line only after two trailing spaces.
  const alerts = sortAlerts(digest.alerts).map((alert) => markdownAlert(alert, language, COLOUR, "  \n"));
  return { title, text: [`#### ${title}`, chatIntro(digest, language), ...alerts].join("\n\n") };
}

export function dingtalkReceiver(config: DingtalkReceiverConfig): Receiver {
  const body = (digest: Digest) =>
    JSON.stringify({ msgtype: "markdown", markdown: dingtalkMarkdown(digest, config.language) });
  return {
    name: config.name,
    type: "dingtalk",
    maxAlertsPerMessage: ALERTS_PER_MESSAGE,
    preview: (digest) => dingtalkMarkdown(digest, config.language).text,
    payload: body,
    async send(digest) {
      const url = new URL(config.webhookUrl);
      let sign: string | undefined;
      if (config.secret) {
        const timestamp = Date.now();
        sign = dingtalkSignature(config.secret, timestamp);
        url.searchParams.set("timestamp", String(timestamp));
        url.searchParams.set("sign", sign);
      }
      await postJson({
        channel: "DingTalk",
        url: url.href,
        body: body(digest),
        secrets: [config.webhookUrl, url.href, config.secret, sign],
        platform: DINGTALK_CODES,
      });
    },
    close: async () => undefined,
  };
}
