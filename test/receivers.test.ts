import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { emailReceiver, smtpOptions } from "../lib/notify/email.js";
import { DeliveryError, type Receiver } from "../lib/notify/receiver.js";
import { slackReceiver } from "../lib/notify/slack.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { SesSim } from "../sim/ses.js";
import { SmtpSink } from "../sim/smtp.js";
import { alert, HOSTILE_NAME } from "./fixtures.js";

const digest = (alerts = [alert({ nativeId: "c1", name: HOSTILE_NAME })]) => ({
  alerts,
  generatedAt: "2026-11-22T00:00:00.000Z",
});

async function failure(receiver: Receiver): Promise<DeliveryError> {
  const error = await receiver.send(digest()).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

describe("Slack receiver", () => {
  const slack = new SlackReceiverSim();
  let receiver: Receiver;
  let url: string;

  beforeAll(async () => {
    url = await slack.listen();
    receiver = slackReceiver({ name: "ops-slack", type: "slack", language: "en", webhookUrl: url });
  });
  beforeEach(() => {
    slack.posts.length = 0;
    slack.attempts = 0;
  });
  afterAll(async () => {
    await slack.close();
  });

  it("posts Block Kit with a text fallback, escaping &, < and > everywhere", async () => {
    await receiver.send(digest());
    const [post] = slack.posts;
    const body = JSON.stringify(post?.body);
    expect(post?.body.text).toContain("&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp; co");
    expect(post?.body.blocks?.map((b) => b.type)).toEqual(["header", "context", "section"]);
    expect(post?.body.blocks?.[2]?.text?.text).toContain("*&lt;!channel&gt; &lt;script&gt;");
    expect(body).not.toContain("<!channel>");
    expect(body).not.toContain("<script>");
  });

  it("waits for Retry-After on 429, then delivers once", async () => {
    slack.answerNext(429, "rate_limited", { "retry-after": "1" });
    const started = Date.now();
    await receiver.send(digest());
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(slack.attempts).toBe(2);
    expect(slack.posts).toHaveLength(1);
  });

  it("retries a 5xx within the send, and posts once", async () => {
    slack.answerNext(500, "oops");
    await receiver.send(digest());
    expect(slack.attempts).toBe(2);
    expect(slack.posts).toHaveLength(1);
  });

  it("treats 404 no_service and 410 channel_is_archived as permanent, without the URL in the message", async () => {
    slack.answerNext(404, "no_service");
    const notFound = await failure(receiver);
    expect(notFound.retryable).toBe(false);
    expect(notFound.message).toContain("404 no_service");
    expect(notFound.message).not.toContain(url);
    slack.answerNext(410, "channel_is_archived");
    expect((await failure(receiver)).retryable).toBe(false);
  });

  it("a 404 that echoes the webhook's path, as is or URL-encoded, never carries its token into the error", async () => {
    const token = new URL(url).pathname.split("/").pop() as string;
    slack.answerNext(404, (path) => `no_service: no webhook at ${path}`);
    const plain = await failure(receiver);
    slack.answerNext(404, (path) => `<a href="/signin?redir=${encodeURIComponent(path)}">no_service</a>`);
    const encoded = await failure(receiver);
    // The token straddles where the body is cut: masked before cutting, no part of it is left.
    slack.answerNext(404, (path) => `${"-".repeat(290)} ${path}`);
    const straddling = await failure(receiver);
    for (const error of [plain, encoded, straddling]) {
      expect(error.message).toMatch(/^Slack rejected the message: 404 /);
      expect(error.message).not.toContain(token);
      expect(error.message).not.toMatch(/XXXX|services%2F/i);
    }
  });

  it("cuts a 1 MB error body to a few hundred characters, without its line breaks or control characters", async () => {
    slack.answerNext(400, `<html>\n\u001b[31m${"x".repeat(1_000_000)}</html>`);
    const error = await failure(receiver);
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).not.toContain("\n");
    expect(error.message).not.toContain("\u001b");
  });

  it("a 200 whose body then stalls is delivered, and posted once: the message is in the channel", async () => {
    slack.stallBodyNext();
    await receiver.send(digest());
    expect(slack.attempts).toBe(1);
    expect(slack.posts).toHaveLength(1);
  });

  it("treats a 5xx that persists, and an unreachable Slack, as retryable next run", async () => {
    for (let i = 0; i < 4; i++) slack.answerNext(503, "unavailable");
    expect((await failure(receiver)).retryable).toBe(true);
    const closed = new SlackReceiverSim();
    const closedUrl = await closed.listen();
    await closed.close();
    const unreachable = slackReceiver({ name: "x", type: "slack", language: "en", webhookUrl: closedUrl });
    const error = await failure(unreachable);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/^cannot reach Slack \(ECONNREFUSED\)/);
  });
});

describe("email receiver", () => {
  const smtp = new SmtpSink({ user: "certwatch", pass: "smtp-pass-123" });
  let receiver: Receiver;
  let port: number;

  beforeAll(async () => {
    port = await smtp.listen();
    receiver = emailReceiver({
      name: "ops-mail",
      type: "email",
      language: "en",
      from: "certwatch@test.local",
      to: ["oncall@test.local"],
      subjectPrefix: "[certwatch]",
      smtp: { host: "127.0.0.1", port, secure: false, user: "certwatch", pass: "smtp-pass-123" },
    });
  });
  afterAll(async () => {
    await receiver.close();
    await smtp.close();
  });

  it("sends HTML and plain text, HTML-escaped, with a subject that summarizes", async () => {
    const alerts = [
      alert({ nativeId: "c1", name: HOSTILE_NAME }),
      alert({
        nativeId: "c2",
        severity: "warning",
        stage: "14d",
        summary: "expires in 12 days (2026-12-04)",
        daysLeft: 12,
      }),
    ];
    await receiver.send(digest(alerts));
    const [mail] = smtp.messages;
    expect(mail?.subject).toBe(
      "[certwatch] 1 critical, 1 warning: c1.example.com expires in 6 days (2026-12-01)",
    );
    expect(mail?.html).toContain("&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp; co");
    expect(mail?.html).not.toContain("<script>");
    expect(mail?.text).toContain(`[CRITICAL] ${HOSTILE_NAME} expires in 6 days`);
    expect(mail?.to).toEqual(["oncall@test.local"]);
  });

  it("treats SMTP 451 as retryable and 550 as permanent", async () => {
    smtp.refuseNext(451, "4.7.1 Try again later");
    const temporary = await failure(receiver);
    expect(temporary.retryable).toBe(true);
    expect(temporary.message).toContain("451");
    const delivered = smtp.messages.length;
    await receiver.send(digest());
    expect(smtp.messages).toHaveLength(delivered + 1);
    smtp.refuseNext(550, "5.1.1 Mailbox unavailable");
    const permanent = await failure(receiver);
    expect(permanent.retryable).toBe(false);
    expect(permanent.message).toContain("550");
    expect(`${temporary.message}${permanent.message}`).not.toContain("smtp-pass-123");
  });

  it("requires STARTTLS for any server off loopback unless the connection is TLS from the start", () => {
    const settings = { port: 587, secure: false, user: "u", pass: "p" };
    expect(smtpOptions({ ...settings, host: "smtp.example.com" }).requireTLS).toBe(true);
    expect(smtpOptions({ ...settings, host: "smtp.example.com", port: 465, secure: true }).requireTLS).toBe(
      false,
    );
    expect(smtpOptions({ ...settings, host: "127.0.0.1" }).requireTLS).toBe(false);
  });

  it("treats a login refusal as permanent, never showing the password", async () => {
    const wrong = emailReceiver({
      name: "bad",
      type: "email",
      language: "en",
      from: "certwatch@test.local",
      to: ["oncall@test.local"],
      subjectPrefix: "[certwatch]",
      smtp: {
        host: "127.0.0.1",
        port,
        secure: false,
        user: "certwatch",
        pass: "wrong-password-456",
      },
    });
    const error = await failure(wrong);
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain("wrong-password-456");
    await wrong.close();
  });
});

describe("email through Amazon SES (v2 API), against a local SES stand-in", () => {
  const ses = new SesSim();
  let receiver: Receiver;

  beforeAll(async () => {
    const endpoint = await ses.listen();
    receiver = emailReceiver({
      name: "ops-ses",
      type: "email",
      language: "zh-CN",
      from: "certwatch@example.com",
      to: ["oncall@example.com"],
      subjectPrefix: "[certwatch]",
      ses: { region: "ap-southeast-1", endpoint, configurationSetName: "certwatch" },
    });
  });
  afterAll(async () => {
    await receiver.close();
    await ses.close();
  });

  it("sends the same HTML and text digest as SMTP does, in the receiver's language", async () => {
    await receiver.send(digest([alert({ nativeId: "c1", name: HOSTILE_NAME })]));
    const [mail] = ses.messages;
    expect(mail?.to).toEqual(["oncall@example.com"]);
    expect(mail?.subject).toBe("[certwatch] 1 个严重: c1.example.com 将在 6 天后过期（2026-12-01）");
    expect(mail?.html).toContain("&lt;script&gt;");
    expect(mail?.html).not.toContain("<script>");
    expect(mail?.text).toContain("续期证书并部署新证书");
  });

  it("treats SES throttling as retryable and MessageRejected as permanent", async () => {
    ses.failNext(429, "TooManyRequestsException", "Maximum sending rate exceeded.");
    const throttled = await failure(receiver);
    expect(throttled.retryable).toBe(true);
    expect(throttled.message).toMatch(/^SES refused the message: TooManyRequestsException/);
    ses.failNext(400, "MessageRejected", "Email address is not verified.");
    const rejected = await failure(receiver);
    expect(rejected.retryable).toBe(false);
    expect(rejected.message).toBe(
      "SES refused the message: MessageRejected (Email address is not verified.)",
    );
  });
});
