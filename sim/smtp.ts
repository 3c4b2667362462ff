import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
}

/** A local SMTP server that keeps what it is sent, and can refuse the next messages with a given reply code. */
export class SmtpSink {
  readonly messages: ReceivedMail[] = [];
  attempts = 0;
  private readonly refusals: { code: number; message: string }[] = [];
  private readonly server: SMTPServer;

  constructor(options: { user?: string; pass?: string } = {}) {
    this.server = new SMTPServer({
      disabledCommands: ["STARTTLS"],
      authOptional: !options.user,
      logger: false,
      onAuth: (auth, _session, callback) => {
        if (auth.username === options.user && auth.password === options.pass)
          callback(null, { user: auth.username });
        else callback(Object.assign(new Error("Invalid username or password"), { responseCode: 535 }));
      },
      onData: (stream, session, callback) => {
        this.attempts++;
        const refusal = this.refusals.shift();
        simpleParser(stream)
          .then((mail) => {
            if (refusal) {
              callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
              return;
            }
            this.messages.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
              to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
              subject: mail.subject ?? "",
              text: mail.text ?? "",
              html: typeof mail.html === "string" ? mail.html : "",
            });
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
  }

  /** The next message is refused with this SMTP reply (451 temporary, 550 permanent...). */
  refuseNext(code: number, message: string): void {
    this.refusals.push({ code, message });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
