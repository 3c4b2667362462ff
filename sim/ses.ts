import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import type { ReceivedMail } from "./smtp.js";

/**
 * A local stand-in for Amazon SES v2 `SendEmail` (POST /v2/email/outbound-emails, REST-JSON): it decodes the raw
 * MIME message the SDK sends and keeps it, or answers an AWS error as scripted (throttling, MessageRejected).
 */
export class SesSim {
  readonly messages: ReceivedMail[] = [];
  attempts = 0;
  private readonly script: { status: number; type: string; message: string }[] = [];
  private server: Server | undefined;

  /** The next request answers this AWS error, e.g. (400, "MessageRejected") or (429, "TooManyRequestsException"). */
  failNext(status: number, type: string, message = type): void {
    this.script.push({ status, type, message });
  }

  async listen(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      this.attempts++;
      const failure = this.script.shift();
      if (failure) {
        res
          .writeHead(failure.status, { "content-type": "application/json", "x-amzn-errortype": failure.type })
          .end(JSON.stringify({ message: failure.message }));
        return;
      }
      if (req.method !== "POST" || req.url !== "/v2/email/outbound-emails") {
        res.writeHead(404, { "x-amzn-errortype": "NotFoundException" }).end("{}");
        return;
      }
      const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const mail = await simpleParser(Buffer.from(request.Content.Raw.Data, "base64"));
      this.messages.push({
        from: request.FromEmailAddress ?? "",
        to: request.Destination?.ToAddresses ?? [],
        subject: mail.subject ?? "",
        text: mail.text ?? "",
        html: typeof mail.html === "string" ? mail.html : "",
      });
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ MessageId: `sim-${this.attempts}` }));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
