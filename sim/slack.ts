import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface SlackPost {
  path: string;
  body: { text?: string; blocks?: { type: string; text?: { text: string } }[] };
}

/** A body, or how to make one from the request's path (servers that echo it, as some proxies' 404 pages do). */
type ScriptedBody = string | ((path: string) => string);

interface ScriptedAnswer {
  status: number;
  body: ScriptedBody;
  headers?: Record<string, string>;
  /** Post the message, send the status and the start of the body, then stall: never end the answer. */
  stall?: boolean;
}

/** A local stand-in for a Slack incoming webhook: records posts, and answers as scripted (429, 500, 404...). */
export class SlackReceiverSim {
  readonly posts: SlackPost[] = [];
  /** Every request, including refused ones. */
  attempts = 0;
  private readonly script: ScriptedAnswer[] = [];
  private server: Server | undefined;

  /** The next request gets this answer instead of `ok`. */
  answerNext(status: number, body: ScriptedBody = "", headers?: Record<string, string>): void {
    this.script.push({ status, body, headers });
  }

  /** The next message is posted and answered 200, but the answer's body stalls after its first byte. */
  stallBodyNext(): void {
    this.script.push({ status: 200, body: "o", stall: true });
  }

  async listen(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      this.attempts++;
      const scripted = this.script.shift();
      if (scripted?.stall) {
        this.posts.push({ path: req.url ?? "/", body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
        res.writeHead(scripted.status, { "content-type": "text/plain", "content-length": "2" });
        res.write(scripted.body as string);
        return;
      }
      if (scripted) {
        const body = typeof scripted.body === "function" ? scripted.body(req.url ?? "/") : scripted.body;
        res.writeHead(scripted.status, { "content-type": "text/plain", ...scripted.headers }).end(body);
        return;
      }
      this.posts.push({ path: req.url ?? "/", body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
