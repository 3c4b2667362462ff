import type { WecomReceiverConfig } from "../config/schema.js";
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

/** WeCom's group robot takes at most 4096 bytes of UTF-8 in markdown.content (群机器人配置说明). */
const ALERTS_PER_MESSAGE = alertsPerMarkdownMessage(4096);

/**
 * errcode 0 is success; 45009 (api freq out of limit: 20 messages a minute per robot) and -1 (system busy,
 * "retry later" in WeCom's global error codes) are worth another run. Everything else is for the operator:
 * 93000 (invalid webhook URL: the robot was removed), 40058 (content too long or malformed), 40008 (bad msgtype).
 * Sources: developer.work.weixin.qq.com 群机器人配置说明 (path/91770) and 全局错误码 (path/90313).
 */
const WECOM_CODES: PlatformCodes = {
  read: (answer) => ({ code: answer.errcode, message: answer.errmsg }),
  retryable: new Set([-1, 45009]),
};

/** The three colours WeCom's markdown knows, quoted as it writes them: warning (orange red), comment, info (green). */
const COLOUR: Record<Alert["severity"] | "resolved", string> = {
  critical: '"warning"',
  warning: '"warning"',
  info: '"comment"',
  resolved: '"info"',
};

export function wecomMarkdown(digest: Digest, language: Language = "en"): string {
  const alerts = sortAlerts(digest.alerts).map((alert) => markdownAlert(alert, language, COLOUR, "\n> "));
  const intro = `<font color="comment">${chatIntro(digest, language)}</font>`;
  return [`## ${chatTitle(digest, language)}`, intro, ...alerts].join("\n\n");
}

/** The robot's key is in the URL: the whole URL is the credential. */
export function wecomReceiver(config: WecomReceiverConfig): Receiver {
  const body = (digest: Digest) =>
    JSON.stringify({ msgtype: "markdown", markdown: { content: wecomMarkdown(digest, config.language) } });
  return {
    name: config.name,
    type: "wecom",
    maxAlertsPerMessage: ALERTS_PER_MESSAGE,
    preview: (digest) => wecomMarkdown(digest, config.language),
    payload: body,
    async send(digest) {
      await postJson({
        channel: "WeCom",
        url: config.webhookUrl,
        body: body(digest),
        secrets: [config.webhookUrl],
        platform: WECOM_CODES,
      });
    },
    close: async () => undefined,
  };
}
