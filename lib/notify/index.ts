import type { ReceiverConfig } from "../config/schema.js";
import { emailReceiver } from "./email.js";
import type { Receiver } from "./receiver.js";
import { slackReceiver } from "./slack.js";

/** Every receiver type. Adding a channel adds its file and one line here. */
export function createReceiver(config: ReceiverConfig): Receiver {
  switch (config.type) {
    case "slack":
      return slackReceiver(config);
    case "email":
      return emailReceiver(config);
  }
}
