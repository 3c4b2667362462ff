import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import { secretValues } from "../lib/config/secrets.js";
import type { Alert } from "../lib/model/types.js";
import { deliverPending } from "../lib/notify/deliver.js";
import { dingtalkSignature } from "../lib/notify/dingtalk.js";
import { feishuSignature } from "../lib/notify/feishu.js";
import { createReceiver } from "../lib/notify/index.js";
import type { Language } from "../lib/notify/messages.js";
import { DeliveryError, type Receiver } from "../lib/notify/receiver.js";
import { notificationId } from "../lib/notify/route.js";
import { webhookSignature } from "../lib/notify/webhook.js";
import { startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { type ChatMessage, type ChatPlatform, ChatReceiverSim } from "../sim/chat-receivers.js";
import { alert, HOSTILE_NAME } from "./fixtures.js";

const PLATFORMS = ["dingtalk", "feishu", "wecom", "webhook"] as const;
const SIGNED = ["dingtalk", "feishu", "webhook"] as const;
const SECRET = "SECa1b2c3d4e5f60718293a4b5c6d7e8f9";
const HOUR_MS = 3_600_000;

/** Markdown, HTML and mention syntax the chat platforms act on. */
const MARKUP_NAME =
  '[click](https://evil.example) ![x](https://evil.example/p.png) <@all> @all <at user_id="all"></at> **b** `c`';

const digest = (alerts: Alert[] = [alert({ nativeId: "c1", name: HOSTILE_NAME })]) => ({
  alerts,
  generatedAt: "2026-11-22T00:00:00.000Z",
});

function hostileAlerts(): Alert[] {
  const markup = alert({ nativeId: "c2", name: MARKUP_NAME });
  markup.object = { ...markup.object, domains: ["- [x](https://evil.example)", "<@all>\n# forged heading"] };
  return [alert({ nativeId: "c1", name: HOSTILE_NAME }), markup];
}

/** An alert whose every part runs past its byte cap, in characters that grow when neutralised or JSON-escaped. */
function oversized(index: number): Alert {
  const id = `cert-${String(index).padStart(3, "0")}`;
  const heavy = '<"\\证书'.repeat(40);
  const a = alert({ nativeId: id, name: `${id} ${heavy}`, staleSince: "2026-11-21T08:00:00.000Z" });
  a.object = {
    ...a.object,
    domains: Array.from({ length: 5 }, (_, i) => `${heavy}${i}.example.com`),
    successor: { nativeId: heavy, notAfter: "2027-11-21T00:00:00.000Z" },
    labels: { ...a.object.labels, account: heavy },
  };
  return a;
}

const sims = Object.fromEntries(
  PLATFORMS.map((platform) => [
    platform,
    new ChatReceiverSim(platform, platform === "wecom" ? undefined : SECRET),
  ]),
) as Record<ChatPlatform, ChatReceiverSim>;
const urls = {} as Record<ChatPlatform, string>;

function receiver(
  platform: ChatPlatform,
  options: { language?: Language; secret?: string; url?: string } = {},
) {
  const { language = "en", secret = SECRET, url = urls[platform] } = options;
  switch (platform) {
    case "dingtalk":
      return createReceiver({ name: "ding", type: "dingtalk", language, webhookUrl: url, secret });
    case "feishu":
      return createReceiver({ name: "lark", type: "feishu", language, webhookUrl: url, secret });
    case "wecom":
      return createReceiver({ name: "wecom", type: "wecom", language, webhookUrl: url });
    case "webhook":
      return createReceiver({ name: "hook", type: "webhook", language, url, secret });
  }
}

async function failure(sending: Promise<void>): Promise<DeliveryError> {
  const error = await sending.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

type FeishuBody = {
  content: { post: Record<string, { title: string; content: { tag: string; text: string }[][] }> };
};
const feishuPost = (message: ChatMessage) => Object.values((message.body as FeishuBody).content.post)[0]!;

/** Every word a person would read in the message. */
function rendered(platform: ChatPlatform, message: ChatMessage): string {
  switch (platform) {
    case "dingtalk": {
      const { title, text } = (message.body as { markdown: { title: string; text: string } }).markdown;
      return `${title}\n${text}`;
    }
    case "wecom":
      return (message.body as { markdown: { content: string } }).markdown.content;
    case "feishu": {
      const post = feishuPost(message);
      return [post.title, ...post.content.flat().map((element) => element.text)].join("\n");
    }
    case "webhook": {
      const body = message.body as { headline: string; alerts: { summary: string; action: string }[] };
      return [body.headline, ...body.alerts.flatMap((a) => [a.summary, a.action])].join("\n");
    }
  }
}

const last = (platform: ChatPlatform) => sims[platform].messages.at(-1)!;
/** What the two markdown platforms would parse as HTML tags. */
const tags = (text: string) => text.match(/<[^>]*>/g) ?? [];

beforeAll(async () => {
  for (const platform of PLATFORMS) urls[platform] = await sims[platform].listen();
});
afterAll(async () => {
  await Promise.all(PLATFORMS.map((platform) => sims[platform].close()));
});

describe("signatures, checked by local receivers as the vendors check them", () => {
  it.each(SIGNED)(
    "%s: a signed message is accepted; a wrong secret is refused as permanent, naming no secret",
    async (platform) => {
      const before = sims[platform].messages.length;
      await receiver(platform).send(digest());
      expect(sims[platform].messages).toHaveLength(before + 1);

      const refused = await failure(receiver(platform, { secret: "wrong-secret-0042" }).send(digest()));
      expect(refused.retryable).toBe(false);
      expect(refused.message).toMatch({ dingtalk: /310000/, feishu: /19021/, webhook: /HTTP 401/ }[platform]);
      for (const secret of [urls[platform], SECRET, "wrong-secret-0042", "sign="]) {
        expect(refused.message).not.toContain(secret);
      }
    },
  );

  it("wecom: the key in the URL is the credential; a wrong key is refused as permanent (93000), naming no key", async () => {
    await receiver("wecom").send(digest());
    const wrong = new URL(urls.wecom);
    wrong.searchParams.set("key", "not-the-key-0042");
    const refused = await failure(receiver("wecom", { url: wrong.href }).send(digest()));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toContain("93000");
    expect(refused.message).not.toContain("not-the-key-0042");
    expect(refused.message).not.toContain(wrong.host);
  });

  it("the receivers refuse a DingTalk or Feishu signature over an hour old, and a webhook one over 5 minutes", async () => {
    const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      }).then((response) => response.json() as Promise<Record<string, unknown>>);
    const markdown = { msgtype: "markdown", markdown: { title: "certwatch", text: "certwatch" } };
    const signedDingtalk = (at: number) =>
      `${urls.dingtalk}&timestamp=${at}&sign=${encodeURIComponent(dingtalkSignature(SECRET, at))}`;
    expect(await post(signedDingtalk(Date.now()), markdown)).toMatchObject({ errcode: 0 });
    expect(await post(signedDingtalk(Date.now() - HOUR_MS - 60_000), markdown)).toMatchObject({
      errcode: 310000,
    });

    const signedFeishu = (seconds: number) => ({
      timestamp: String(seconds),
      sign: feishuSignature(SECRET, String(seconds)),
      msg_type: "post",
      content: { post: { en_us: { title: "certwatch", content: [] } } },
    });
    const now = Math.floor(Date.now() / 1000);
    expect(await post(urls.feishu, signedFeishu(now))).toMatchObject({ code: 0 });
    expect(await post(urls.feishu, signedFeishu(now - 3_660))).toMatchObject({ code: 19021 });

    const stale = String(now - 600);
    const body = { source: "certwatch", alerts: [] };
    const headers = {
      "x-certwatch-timestamp": stale,
      "x-certwatch-signature": webhookSignature(SECRET, stale, JSON.stringify(body)),
    };
    expect(await post(urls.webhook, body, headers)).toEqual({ error: "stale timestamp" });
  });
});

describe("untrusted text cannot mention everyone, inject links or markup, or forge lines", () => {
  it.each(["dingtalk", "wecom"] as const)(
    "%s markdown: names and domains are shown with look-alikes",
    async (platform) => {
      await receiver(platform).send(digest(hostileAlerts()));
      const message = last(platform);
      const text = rendered(platform, message);
      expect(text).toContain("＜!channel＞ ＜script＞alert(1)＜/script＞ ＆ co");
      expect(text).toContain("［click］(https://evil.example)");
      // The only tags are the receiver's own colours; no link, image, mention, emphasis or code comes from a name.
      for (const tag of tags(text)) expect(tag).toMatch(/^<\/?font( color=("\w+"|#[0-9a-f]{6}))?>$/);
      for (const syntax of ["](", "@", "**b**", "`"]) expect(text).not.toContain(syntax);
      // Only the header starts a line with markdown block syntax; names and domains never start one.
      const lines = text.split("\n").map((line) => line.replace(/^> /, ""));
      expect(lines.filter((line) => /^([#>=+-]|\d+\.)/.test(line))).toEqual([
        expect.stringMatching(/^#+ certwatch/),
      ]);
      // Nobody is mentioned through the platform's own fields either.
      expect(JSON.stringify(message.body)).not.toMatch(/isAtAll|atMobiles|mentioned_list/);
    },
  );

  it("feishu post: every element is plain text, with angle brackets neutralised and no line of its own", async () => {
    await receiver("feishu").send(digest(hostileAlerts()));
    const elements = feishuPost(last("feishu")).content.flat();
    expect(new Set(elements.map((element) => element.tag))).toEqual(new Set(["text"]));
    const texts = elements.map((element) => element.text);
    expect(texts).toContain("c1.example.com");
    expect(texts.join("\n")).toContain("＜!channel＞ ＜script＞alert(1)＜/script＞ & co");
    expect(texts.join("")).not.toMatch(/[<>\n]/);
    expect(texts).toContain("- [x](https://evil.example), ＜@all＞ # forged heading");
  });

  it("webhook JSON: values arrive exactly, while the body holds no <, > or & a consumer could paste as markup", async () => {
    await receiver("webhook").send(digest(hostileAlerts()));
    const { raw, body } = last("webhook");
    expect(raw).not.toMatch(/[<>&]/);
    const alerts = (body as { alerts: { name: string; domains: string[] }[] }).alerts;
    expect(alerts.map((a) => a.name).sort()).toEqual([HOSTILE_NAME, MARKUP_NAME].sort());
    expect(alerts.find((a) => a.name === MARKUP_NAME)?.domains).toEqual([
      "- [x](https://evil.example)",
      "<@all>\n# forged heading",
    ]);
  });
});

describe("language", () => {
  it.each(PLATFORMS)("%s: zh-CN words from messages.ts", async (platform) => {
    await receiver(platform, { language: "zh-CN" }).send(digest([alert({ nativeId: "c1" })]));
    const text = rendered(platform, last(platform));
    for (const words of ["certwatch: 1 个严重", "将在 6 天后过期（2026-12-01）", "续期证书并部署新证书"]) {
      expect(text).toContain(words);
    }
    if (platform !== "webhook") expect(text).toContain("生成于 2026-11-22");
    if (platform === "feishu")
      expect(Object.keys((last(platform).body as FeishuBody).content.post)).toEqual(["zh_cn"]);
  });

  it.each(PLATFORMS)("%s: a test-notify message says what it is", async (platform) => {
    await receiver(platform, { language: "zh-CN" }).send({ ...digest([]), test: true });
    expect(rendered(platform, last(platform))).toContain("certwatch 测试消息");
  });
});

describe("throttling and failures", () => {
  it.each(["dingtalk", "feishu", "wecom"] as const)(
    "%s: a throttling code is reported as retryable at once, not retried within the send; the next run goes through",
    async (platform) => {
      const sim = sims[platform];
      sim.throttleNext();
      const before = sim.attempts;
      const throttled = await failure(receiver(platform).send(digest()));
      expect(throttled.retryable).toBe(true);
      expect(throttled.message).toMatch({ dingtalk: /130101/, feishu: /11232/, wecom: /45009/ }[platform]);
      expect(sim.attempts).toBe(before + 1);
      await receiver(platform).send(digest());
      expect(sim.attempts).toBe(before + 2);
    },
  );

  it("webhook: 429 waits for Retry-After and a 5xx backs off, within the send, and each posts once", async () => {
    const sim = sims.webhook;
    const before = { attempts: sim.attempts, messages: sim.messages.length };
    sim.throttleNext();
    const started = Date.now();
    await receiver("webhook").send(digest());
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    sim.failNext();
    await receiver("webhook").send(digest());
    expect(sim.attempts).toBe(before.attempts + 4);
    expect(sim.messages).toHaveLength(before.messages + 2);
  });

  it.each(["webhook", "dingtalk"] as const)(
    "%s: a 2xx whose body then stalls is delivered and posted once, result code or not",
    async (platform) => {
      let posts = 0;
      const stalling = createServer((request, response) => {
        request.resume();
        request.on("end", () => {
          posts++;
          response.writeHead(200, { "content-type": "application/json", "content-length": "40" });
          response.write('{"errcode":');
        });
      });
      await new Promise<void>((resolve) => stalling.listen(0, "127.0.0.1", resolve));
      try {
        const { port } = stalling.address() as AddressInfo;
        await receiver(platform, { url: `http://127.0.0.1:${port}/hook` }).send(digest());
        expect(posts).toBe(1);
      } finally {
        stalling.closeAllConnections();
        await new Promise<void>((resolve) => stalling.close(() => resolve()));
      }
    },
  );

  it("webhook: another 4xx is permanent; an unreachable endpoint is retryable", async () => {
    sims.webhook.answerNext({ status: 410, body: { error: "gone" } });
    const gone = await failure(receiver("webhook").send(digest()));
    expect(gone.retryable).toBe(false);
    expect(gone.message).toContain("HTTP 410");
    const closed = new ChatReceiverSim("webhook");
    const url = await closed.listen();
    await closed.close();
    const unreachable = await failure(receiver("webhook", { url }).send(digest()));
    expect(unreachable).toMatchObject({ retryable: true });
    expect(unreachable.message).toMatch(/^cannot reach the webhook \(ECONNREFUSED\)/);
  });

  it("webhook: a 404 that echoes the path token and the query token, as is or URL-encoded, leaves neither in the report or the ledger", async () => {
    const pathToken = "a1b2c3d4e5f6a7b8c9d0";
    const queryToken = "q9r8s7t6u5";
    const echoing = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        const path = request.url ?? "/";
        const echoed = { error: `no hook at ${path}`, path: encodeURIComponent(path), token: queryToken };
        response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify(echoed));
      });
    });
    await new Promise<void>((resolve) => echoing.listen(0, "127.0.0.1", resolve));
    const dynamo = await startEmbeddedDynamo();
    const store = new Store({ table: "echo", endpoint: dynamo.endpoint, historyDays: 30 });
    try {
      await store.ensureTable();
      const { port } = echoing.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}/hooks/${pathToken}?access_token=${queryToken}`;
      const now = new Date("2026-11-22T00:00:00Z");
      const a = alert({ nativeId: "c1" });
      await store.ledger.recordNotification("hook", notificationId(a), a, now);
      const report = await deliverPending(store.ledger, receiver("webhook", { url }), { runId: "echo", now });
      const [kept] = await store.ledger.pendingFor("hook");
      expect(kept?.lastError).toMatch(/^the webhook refused the message: HTTP 404 /);
      for (const text of [kept?.lastError, ...report.errors]) {
        expect(text).not.toContain(pathToken);
        expect(text).not.toContain(queryToken);
      }
    } finally {
      store.close();
      await dynamo.close();
      echoing.closeAllConnections();
      await new Promise<void>((resolve) => echoing.close(() => resolve()));
    }
  });
});

describe("message size", () => {
  const LIMITS = {
    dingtalk: (m: ChatMessage) => Buffer.byteLength((m.body as { markdown: { text: string } }).markdown.text),
    wecom: (m: ChatMessage) =>
      Buffer.byteLength((m.body as { markdown: { content: string } }).markdown.content),
    feishu: (m: ChatMessage) => Buffer.byteLength(m.raw),
  };

  it.each([
    ["dingtalk", 4096],
    ["wecom", 4096],
    ["feishu", 20_000],
  ] as const)(
    "%s: a full message of oversized zh-CN alerts stays within %i bytes",
    async (platform, limit) => {
      const chat: Receiver = receiver(platform, { language: "zh-CN" });
      const alerts = Array.from({ length: chat.maxAlertsPerMessage }, (_, i) => oversized(i));
      await chat.send(digest(alerts));
      expect(LIMITS[platform](last(platform))).toBeLessThanOrEqual(limit);
    },
  );

  it("120 alerts reach WeCom through the ledger, split within 4096 bytes a message, each exactly once", async () => {
    const dynamo = await startEmbeddedDynamo();
    const store = new Store({ table: "chat", endpoint: dynamo.endpoint, historyDays: 30 });
    try {
      await store.ensureTable();
      const now = new Date("2026-11-22T00:00:00Z");
      const alerts = Array.from({ length: 120 }, (_, i) => oversized(i));
      for (const a of alerts) await store.ledger.recordNotification("wecom", notificationId(a), a, now);
      const wecom = receiver("wecom", { language: "zh-CN" });
      const sim = sims.wecom;
      const before = sim.messages.length;

      const report = await deliverPending(store.ledger, wecom, { runId: "split", now });

      const contents = sim.messages
        .slice(before)
        .map((m) => (m.body as { markdown: { content: string } }).markdown.content);
      const parts = Math.ceil(120 / wecom.maxAlertsPerMessage);
      expect(report).toMatchObject({ sent: 120, messages: parts, errors: [] });
      expect(contents).toHaveLength(parts);
      for (const content of contents) expect(Buffer.byteLength(content)).toBeLessThanOrEqual(4096);
      const seen = contents.flatMap((content) =>
        [...content.matchAll(/<\/font> (cert-\d{3}) /g)].map((m) => m[1]),
      );
      expect(seen.sort()).toEqual(alerts.map((a) => a.object.nativeId).sort());
      expect(contents.at(-1)).toContain(`(${parts}/${parts})`);
    } finally {
      store.close();
      await dynamo.close();
    }
  });
});

describe("config", () => {
  const yaml = (receivers: string) => `
sources:
  - name: hw-prod
    type: huawei-scm
    endpoint: https://scm.ap-southeast-1.myhuaweicloud.com
    credentials: { accessKey: AK, secretKey: SK }
receivers:
${receivers}`;

  it("registers the four types, redacts their URLs, secrets and headers, and refuses empty secrets and plain http", async () => {
    const config = await parseConfig(
      yaml(`  - { name: d, type: dingtalk, webhookUrl: "https://oapi.dingtalk.com/robot/send?access_token=t1", secret: SECd1 }
  - { name: f, type: feishu, language: zh-CN, webhookUrl: "https://open.feishu.cn/open-apis/bot/v2/hook/t2", secret: fsec }
  - { name: w, type: wecom, webhookUrl: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=t3" }
  - { name: h, type: webhook, url: "https://hooks.example.com/in", secret: hsec, headers: { Authorization: Bearer-t4 } }`),
      "c.yml",
    );
    expect(config.receivers.map((r) => createReceiver(r).type)).toEqual([
      "dingtalk",
      "feishu",
      "wecom",
      "webhook",
    ]);
    expect(secretValues(config)).toEqual(
      expect.arrayContaining([
        "https://oapi.dingtalk.com/robot/send?access_token=t1",
        "SECd1",
        "https://open.feishu.cn/open-apis/bot/v2/hook/t2",
        "fsec",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=t3",
        "https://hooks.example.com/in",
        "hsec",
        "Bearer-t4",
      ]),
    );
    await expect(
      parseConfig(
        yaml(
          `  - { name: d, type: dingtalk, webhookUrl: "http://oapi.dingtalk.com/robot/send", secret: "" }`,
        ),
        "c.yml",
      ),
    ).rejects.toMatchObject({
      problems: [
        "receivers[0].webhookUrl: must start with https:// (http:// is allowed only on loopback)",
        "receivers[0].secret: must not be empty",
      ],
    });
  });
});

describe("dry run", () => {
  it.each(PLATFORMS)(
    "%s: the payload is the body it sends, the preview is text a person reads",
    async (platform) => {
      const chat = receiver(platform);
      const sample = digest([alert({ nativeId: "c1" }), alert({ nativeId: "c2", severity: "warning" })]);
      await chat.send(sample);
      const {
        timestamp: _timestamp,
        sign: _sign,
        ...unsigned
      } = last(platform).body as Record<string, unknown>;
      expect(JSON.parse(chat.payload(sample))).toEqual(unsigned);
      const preview = chat.preview(sample);
      expect(() => JSON.parse(preview)).toThrow();
      expect(preview).toContain("certwatch: 1 critical, 1 warning");
      expect(preview).toContain("c1.example.com");
    },
  );
});

describe("the generic webhook's body size", () => {
  it("caps each alert's untrusted values, so 100 alerts with 100 KB names stay near 1 MB", async () => {
    const { webhookBody } = await import("../lib/notify/webhook.js");
    const huge = (n: number): Alert => {
      // `<` is written as a 6-byte \u escape: the worst case for the body's size.
      const base = alert({ nativeId: `big-${n}`, name: `n${"<".repeat(100_000)}` });
      const domains = Array.from({ length: 500 }, (_, i) => `d${i}-${"y".repeat(300)}.example.com`);
      const details = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, "j".repeat(50_000)]));
      return { ...base, object: { ...base.object, domains, details } };
    };
    const body = webhookBody({ alerts: Array.from({ length: 100 }, (_, n) => huge(n)), generatedAt: "now" });
    expect(Buffer.byteLength(body)).toBeLessThan(1_100_000);
    const [first] = (
      JSON.parse(body) as { alerts: { name: string; domains: string[]; domainCount: number }[] }
    ).alerts;
    expect(first?.name.endsWith("…")).toBe(true);
    expect(first?.domains).toHaveLength(10);
    expect(first?.domainCount).toBe(500);
  });
});
