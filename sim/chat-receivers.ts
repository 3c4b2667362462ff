import { createHmac, timingSafeEqual } from "node:crypto";
import { type SimAnswer, type SimRequest, SimServer } from "./server.js";

/**
 * Local stand-ins for the chat webhooks teams on Alibaba and Huawei clouds use: a DingTalk custom robot, a
 * Feishu custom bot, a WeCom group robot, and certwatch's signed JSON webhook. Each checks the credential in
 * its URL and the documented signature the way the vendor does (recomputed here from the timestamp and the
 * shared secret, independently of lib/), answers with the vendor's codes, and records what it accepted.
 */
export type ChatPlatform = "dingtalk" | "feishu" | "wecom" | "webhook";

export interface ChatMessage {
  url: URL;
  headers: SimRequest["headers"];
  /** The exact bytes received. */
  raw: string;
  body: Record<string, unknown>;
}

const HOUR_MS = 3_600_000;
/** What certwatch documents for its own signature: receivers refuse timestamps further off than this. */
const WEBHOOK_TOLERANCE_MS = 5 * 60_000;
const FEISHU_BODY_BYTES = 20 * 1024;
const WECOM_CONTENT_BYTES = 4096;

const TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

const PATH: Record<ChatPlatform, string> = {
  dingtalk: `/robot/send?access_token=${TOKEN}`,
  feishu: `/open-apis/bot/v2/hook/${TOKEN}`,
  wecom: `/cgi-bin/webhook/send?key=${TOKEN}`,
  webhook: "/hooks/certwatch",
};

/** The vendors' own answers, as their documentation and users' reports show them. */
const dingtalk = (errcode: number, errmsg: string): SimAnswer => ({ status: 200, body: { errcode, errmsg } });
const feishu = (code: number, msg: string): SimAnswer => ({ status: 200, body: { code, msg, data: {} } });
/** WeCom answers in DingTalk's shape, `{ errcode, errmsg }`. */
const wecom = dingtalk;
const webhook = (status: number, error?: string): SimAnswer => ({
  status,
  body: error ? { error } : { ok: true },
});

const THROTTLED: Record<ChatPlatform, SimAnswer> = {
  dingtalk: dingtalk(130101, "send too fast, exceed 20 times per minute"),
  feishu: feishu(11232, "frequency limited psm[lark.oapi.app_platform_runtime]"),
  wecom: wecom(45009, "api freq out of limit"),
  webhook: { ...webhook(429, "rate limited"), headers: { "retry-after": "1" } },
};

const ACCEPTED: Record<ChatPlatform, SimAnswer> = {
  dingtalk: dingtalk(0, "ok"),
  feishu: feishu(0, "success"),
  wecom: wecom(0, "ok"),
  webhook: webhook(200),
};

function sameText(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

const hmac = (key: string, data: string) => createHmac("sha256", key).update(data);

function parse(raw: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class ChatReceiverSim {
  readonly messages: ChatMessage[] = [];
  private readonly script: SimAnswer[] = [];
  private readonly server: SimServer;

  constructor(
    readonly platform: ChatPlatform,
    private readonly secret?: string,
  ) {
    this.server = new SimServer(
      (request) => this.receive(request),
      (fault) => (fault === "throttle" ? THROTTLED[platform] : { status: 500, body: {} }),
    );
  }

  /** Every request, refused ones included. */
  get attempts(): number {
    return this.server.stats.requests;
  }

  /** The next `times` requests get the platform's throttling answer. */
  throttleNext(times = 1): void {
    this.server.inject("throttle", times);
  }

  /** The next `times` requests get HTTP 500. */
  failNext(times = 1): void {
    this.server.inject("5xx", times);
  }

  /** The next request gets this answer, whatever it carries. */
  answerNext(answer: SimAnswer): void {
    this.script.push(answer);
  }

  /** The webhook URL as the platform would issue it. */
  async listen(): Promise<string> {
    return `${await this.server.listen()}${PATH[this.platform]}`;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private receive(request: SimRequest): SimAnswer {
    const scripted = this.script.shift();
    if (scripted) return scripted;
    const body = parse(request.body);
    if (!body) return this.malformed();
    const refusal = this.refusal(request, body);
    if (refusal) return refusal;
    this.messages.push({ url: request.url, headers: request.headers, raw: request.body, body });
    return ACCEPTED[this.platform];
  }

  private malformed(): SimAnswer {
    return {
      dingtalk: dingtalk(40035, "缺少参数 json"),
      feishu: feishu(9499, "Bad Request"),
      wecom: wecom(40035, "invalid json"),
      webhook: webhook(400, "invalid json"),
    }[this.platform];
  }

  private refusal(request: SimRequest, body: Record<string, unknown>): SimAnswer | undefined {
    switch (this.platform) {
      case "dingtalk":
        return this.dingtalkRefusal(request.url, body);
      case "feishu":
        return this.feishuRefusal(request, body);
      case "wecom":
        return this.wecomRefusal(request.url, body);
      case "webhook":
        return this.webhookRefusal(request);
    }
  }

  /** 加签: HMAC-SHA256 keyed with the secret over `${timestamp}\n${secret}`, base64, in the query; ±1 hour. */
  private dingtalkRefusal(url: URL, body: Record<string, unknown>): SimAnswer | undefined {
    if (url.searchParams.get("access_token") !== TOKEN) return dingtalk(300001, "token is not exist");
    if (this.secret) {
      const timestamp = url.searchParams.get("timestamp") ?? "";
      const sign = url.searchParams.get("sign") ?? "";
      if (!(Math.abs(Date.now() - Number(timestamp)) <= HOUR_MS))
        return dingtalk(310000, "invalid timestamp");
      const expected = hmac(this.secret, `${timestamp}\n${this.secret}`).digest("base64");
      if (!sameText(sign, expected)) return dingtalk(310000, "sign not match");
    }
    const markdown = body.markdown as { title?: unknown; text?: unknown } | undefined;
    if (
      body.msgtype !== "markdown" ||
      typeof markdown?.title !== "string" ||
      typeof markdown.text !== "string"
    ) {
      return dingtalk(40035, "缺少参数 markdown");
    }
    return undefined;
  }

  /** Feishu keys the HMAC-SHA256 with `${timestamp}\n${secret}` and signs nothing; seconds, ±1 hour. */
  private feishuRefusal(request: SimRequest, body: Record<string, unknown>): SimAnswer | undefined {
    if (request.url.pathname.split("/").pop() !== TOKEN) {
      return feishu(19001, "param invalid: incoming webhook access token invalid");
    }
    if (Buffer.byteLength(request.body) > FEISHU_BODY_BYTES) return feishu(9499, "Bad Request");
    if (this.secret) {
      const timestamp = String(body.timestamp ?? "");
      const expected = hmac(`${timestamp}\n${this.secret}`, "").digest("base64");
      const fresh = Math.abs(Date.now() - Number(timestamp) * 1000) <= HOUR_MS;
      if (!fresh || !sameText(String(body.sign ?? ""), expected)) {
        return feishu(19021, "sign match fail or timestamp is not within one hour from current time");
      }
    }
    const content = body.content as { post?: unknown } | undefined;
    if (body.msg_type !== "post" || typeof content?.post !== "object") return feishu(9499, "Bad Request");
    return undefined;
  }

  private wecomRefusal(url: URL, body: Record<string, unknown>): SimAnswer | undefined {
    if (url.searchParams.get("key") !== TOKEN) return wecom(93000, "invalid webhook url");
    const content = (body.markdown as { content?: unknown } | undefined)?.content;
    if (body.msgtype !== "markdown" || typeof content !== "string")
      return wecom(40008, "invalid message type");
    if (Buffer.byteLength(content) > WECOM_CONTENT_BYTES) {
      return wecom(40058, `markdown.content exceed max length ${WECOM_CONTENT_BYTES}`);
    }
    return undefined;
  }

  /** certwatch's own: `sha256=` hex HMAC-SHA256 of `${X-Certwatch-Timestamp}.${body}`, ±5 minutes. */
  private webhookRefusal(request: SimRequest): SimAnswer | undefined {
    if (request.url.pathname !== PATH.webhook) return webhook(404, "no such hook");
    if (!this.secret) return undefined;
    const timestamp = String(request.headers["x-certwatch-timestamp"] ?? "");
    const signature = String(request.headers["x-certwatch-signature"] ?? "");
    if (!(Math.abs(Date.now() - Number(timestamp) * 1000) <= WEBHOOK_TOLERANCE_MS)) {
      return webhook(401, "stale timestamp");
    }
    const expected = `sha256=${hmac(this.secret, `${timestamp}.${request.body}`).digest("hex")}`;
    return sameText(signature, expected) ? undefined : webhook(401, "bad signature");
  }
}
