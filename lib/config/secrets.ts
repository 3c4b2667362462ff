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
  return values.filter((value): value is string => typeof value === "string" && value.length >= 4);
}

/** The last line of defence: replaces any secret that slipped into a text with a mask. */
export function makeRedactor(secrets: string[]): (text: string) => string {
  const sorted = [...new Set(secrets)].sort((a, b) => b.length - a.length);
  return (text) => sorted.reduce((out, secret) => out.split(secret).join("***"), text);
}
