import type { ReceiverConfig } from "../config/schema.js";
import { dingtalkReceiver } from "./dingtalk.js";
import { emailReceiver } from "./email.js";
import { feishuReceiver } from "./feishu.js";
import type { Receiver } from "./receiver.js";
import { slackReceiver } from "./slack.js";
import { webhookReceiver } from "./webhook.js";
import { wecomReceiver } from "./wecom.js";

/** Every receiver type. Adding a channel adds its file and one line here. */
export function createReceiver(config: ReceiverConfig): Receiver {
  switch (config.type) {
    case "slack":
      return slackReceiver(config);
    case "email":
      return emailReceiver(config);
    case "dingtalk":
      return dingtalkReceiver(config);
    case "feishu":
      return feishuReceiver(config);
    case "wecom":
      return wecomReceiver(config);
    case "webhook":
      return webhookReceiver(config);
  }
}
