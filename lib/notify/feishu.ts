import { createHmac } from "node:crypto";
import type { FeishuReceiverConfig } from "../config/schema.js";
import type { Digest } from "./digest.js";
import type { Language } from "./messages.js";
import type { Receiver } from "./receiver.js";
import { ALERT_TEXT_BYTES, chatLines, chatTitle, type PlatformCodes, postJson } from "./webhook.js";

/**
 * A custom bot's request body may not exceed 20 KB (自定义机器人使用指南). An alert's text is at most
 * ALERT_TEXT_BYTES, doubled at worst by JSON escaping, plus its four paragraphs' tags.
 */
const BODY_BYTES = 20_000;
const HEADER_BYTES = 1_000;
const ALERTS_PER_MESSAGE = Math.floor((BODY_BYTES - HEADER_BYTES) / (2 * ALERT_TEXT_BYTES + 128));

/**
 * code 0 is success. 11232 (frequency limited: 100 a minute, 5 a second per bot) and 99991400 (the
 * gateway's "request trigger frequency limit") are worth another run. Everything else is for the operator:
 * 19021 (sign match fail or timestamp not within one hour), 19022 (IP not allowed), 19024 (key words not
 * found), 9499 (bad request). Sources: open.feishu.cn "自定义机器人使用指南" and "Rate limits".
 */
const FEISHU_CODES: PlatformCodes = {
  read: (answer) => ({ code: answer.code, message: answer.msg }),
  retryable: new Set([11232, 99991400]),
};

/**
 * A `post` (rich text) rather than an `interactive` card or `text`: cards parse lark_md and `text` parses
 * `<at user_id="all">`, while a post's `text` elements are shown as they are, and a mention needs an `at`
 * element of its own, which is never sent. Angle brackets are neutralised still, in case a client reads tags.
 */
const ANGLE_BRACKETS = /[<>]/g;

/**
 * Feishu signs the other way round from DingTalk: `${timestamp}\n${secret}` is the HMAC-SHA256 key and the
 * message is empty; base64. The timestamp is in seconds and must be within an hour of Feishu's clock.
 */
export function feishuSignature(secret: string, timestampSeconds: string): string {
  return createHmac("sha256", `${timestampSeconds}\n${secret}`).update("").digest("base64");
}

export function feishuPost(digest: Digest, language: Language = "en") {
  const locale = language === "zh-CN" ? "zh_cn" : "en_us";
  const content = chatLines(digest, language, ANGLE_BRACKETS).map((text) => [{ tag: "text", text }]);
  return {
    msg_type: "post",
    content: { post: { [locale]: { title: chatTitle(digest, language), content } } },
  };
}

export function feishuReceiver(config: FeishuReceiverConfig): Receiver {
  return {
    name: config.name,
    type: "feishu",
    maxAlertsPerMessage: ALERTS_PER_MESSAGE,
    preview: (digest) =>
      [chatTitle(digest, config.language), ...chatLines(digest, config.language, ANGLE_BRACKETS)].join("\n"),
    payload: (digest) => JSON.stringify(feishuPost(digest, config.language)),
    async send(digest) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const sign = config.secret ? feishuSignature(config.secret, timestamp) : undefined;
      await postJson({
        channel: "Feishu",
        url: config.webhookUrl,
        body: JSON.stringify({ ...(sign && { timestamp, sign }), ...feishuPost(digest, config.language) }),
        secrets: [config.webhookUrl, config.secret, sign],
        platform: FEISHU_CODES,
      });
    },
    close: async () => undefined,
  };
}
