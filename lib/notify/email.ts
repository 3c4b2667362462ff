import { SendEmailCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import nodemailer from "nodemailer";
import { type EmailReceiverConfig, isLoopback } from "../config/schema.js";
import { excerpt, makeRedactor } from "../config/secrets.js";
import { fit, oneLine } from "../model/text.js";
import type { Alert } from "../model/types.js";
import { type Digest, escapeHtml, FACT_CHARS, facts, headline, label, sortAlerts } from "./digest.js";
import { type Language, messages } from "./messages.js";
import { DeliveryError, type Receiver } from "./receiver.js";

const COLOURS: Record<Alert["severity"] | "resolved", { fg: string; bg: string }> = {
  critical: { fg: "#8a1c1c", bg: "#fde8e8" },
  warning: { fg: "#7a4a00", bg: "#fff4e0" },
  info: { fg: "#1d4f91", bg: "#e8f0fd" },
  resolved: { fg: "#1e6b34", bg: "#e6f6ea" },
};

function tone(alert: Alert) {
  return COLOURS[alert.transition === "resolved" ? "resolved" : alert.severity];
}

/** Enough of a name for a subject line, which clients cut at about 80 characters anyway. */
const SUBJECT_NAME_CHARS = 100;

/** `2 critical, 5 warning: api.example.com expires in 3 days` */
export function subject(config: EmailReceiverConfig, digest: Digest): string {
  const words = messages[config.language];
  if (digest.test) return `${config.subjectPrefix} ${words.test.title}`;
  const first = sortAlerts(digest.alerts)[0];
  const lead = first
    ? `: ${fit(first.object.domains[0] ?? first.object.name, SUBJECT_NAME_CHARS)} ${fit(words.when(first), FACT_CHARS.when)}`
    : "";
  const part = digest.part && digest.part.count > 1 ? ` (${digest.part.index}/${digest.part.count})` : "";
  return oneLine(`${config.subjectPrefix} ${headline(digest.alerts, config.language)}${lead}${part}`);
}

export function plainText(digest: Digest, language: Language = "en"): string {
  const words = messages[language];
  if (digest.test) return `${words.test.title}: ${words.test.body}\n`;
  const blocks = sortAlerts(digest.alerts).map((alert) => {
    const f = facts(alert, language);
    return [
      `[${label(alert, language).toUpperCase()}] ${f.title} ${f.when}`,
      `  ${f.domains}`,
      `  ${f.where} · ${f.what}`,
      `  ${f.state}: ${f.action}`,
      ...(f.ack ? [`  ${words.toAcknowledge}: ${f.ack}`] : []),
    ].join("\n");
  });
  const heading = `certwatch: ${headline(digest.alerts, language)}`;
  return `${heading}\n${words.generated(digest.generatedAt)}\n\n${blocks.join("\n\n")}\n`;
}

/** Inline styles only: mail clients drop <style> blocks and most images; the table reads well without either. */
export function html(digest: Digest, language: Language = "en"): string {
  const words = messages[language];
  const cell = "padding:8px 10px;border-bottom:1px solid #e3e3e3;vertical-align:top;font-size:14px;";
  const muted = "color:#555;";
  const rows = sortAlerts(digest.alerts)
    .map((alert) => {
      const f = facts(alert, language);
      const { fg, bg } = tone(alert);
      const ack = f.ack
        ? `<br><span style="color:#777;font-size:12px;font-family:monospace;">${escapeHtml(f.ack)}</span>`
        : "";
      return `<tr>
<td style="${cell}background:${bg};color:${fg};font-weight:bold;white-space:nowrap;">${escapeHtml(label(alert, language))}</td>
<td style="${cell}"><strong>${escapeHtml(f.title)}</strong><br><span style="${muted}">${escapeHtml(f.domains)}</span></td>
<td style="${cell}">${escapeHtml(f.when)}<br><span style="${muted}">${escapeHtml(f.state)}</span></td>
<td style="${cell}${muted}">${escapeHtml(f.where)}<br>${escapeHtml(f.what)}</td>
<td style="${cell}">${escapeHtml(f.action)}${ack}</td>
</tr>`;
    })
    .join("\n");
  const heading = digest.test ? words.test.title : `certwatch: ${headline(digest.alerts, language)}`;
  const intro = digest.test ? words.test.body : words.generated(digest.generatedAt);
  const th = "text-align:left;padding:8px 10px;border-bottom:2px solid #ccc;font-size:13px;color:#333;";
  const { columns } = words;
  const table = rows
    ? `<table role="presentation" cellspacing="0" cellpadding="0" style="border-collapse:collapse;width:100%;">
<thead><tr>${[columns.severity, columns.certificate, columns.when, columns.where, columns.action]
        .map((name) => `<th style="${th}">${escapeHtml(name)}</th>`)
        .join("")}</tr></thead>
<tbody>
${rows}
</tbody></table>`
    : "";
  return `<!doctype html>
<html lang="${language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(heading)}</title></head>
<body style="margin:0;padding:16px;font-family:-apple-system,Segoe UI,Helvetica,Arial,'PingFang SC','Microsoft YaHei',sans-serif;color:#222;background:#fff;">
<h1 style="font-size:20px;margin:0 0 4px 0;">${escapeHtml(heading)}</h1>
<p style="margin:0 0 16px 0;color:#555;font-size:13px;">${escapeHtml(intro)}</p>
${table}
</body></html>
`;
}

/** SES refusals that waiting cannot fix; throttling and server faults are retried next run. */
const SES_PERMANENT = new Set([
  "MessageRejected",
  "MailFromDomainNotVerifiedException",
  "AccountSuspendedException",
  "SendingPausedException",
  "BadRequestException",
  "NotFoundException",
]);

/**
 * SMTP 4xx is a temporary refusal worth retrying; 5xx is final. No reply at all (network) is retried too.
 * SES answers with AWS error names instead. What the server said is quoted through `redact`: it may echo the login.
 */
function classify(error: unknown, redact: (text: string) => string): DeliveryError {
  const aws = error as { $metadata?: unknown; name: string; message: string };
  if (aws.$metadata !== undefined) {
    const permanent = SES_PERMANENT.has(aws.name);
    return new DeliveryError(
      `SES refused the message: ${aws.name} (${excerpt(aws.message, redact)})`,
      !permanent,
    );
  }
  const smtp = error as { responseCode?: number; code?: string; response?: string; message: string };
  if (typeof smtp.responseCode === "number") {
    const reply = excerpt(smtp.response ?? smtp.message, redact);
    const retryable = smtp.responseCode < 500;
    return new DeliveryError(`SMTP server refused the message: ${reply}`, retryable);
  }
  const code = smtp.code ?? "unknown error";
  const permanent = code === "EAUTH" || code === "EENVELOPE";
  return new DeliveryError(`cannot deliver by SMTP (${code}: ${excerpt(smtp.message, redact)})`, !permanent);
}

/** SMTP (STARTTLS required off loopback) or Amazon SES; one nodemailer transport either way. */
function transportFor(config: EmailReceiverConfig) {
  const { smtp, ses } = config;
  if (ses) {
    const loopback = ses.endpoint !== undefined && isLoopback(new URL(ses.endpoint).hostname);
    const sesClient = new SESv2Client({
      region: ses.region ?? process.env.AWS_REGION,
      endpoint: ses.endpoint,
      // A local stand-in accepts any signature; a real endpoint uses the default provider chain (the Lambda role).
      ...(loopback ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } } : {}),
      maxAttempts: 1,
    });
    return nodemailer.createTransport({ SES: { sesClient, SendEmailCommand } });
  }
  if (!smtp) throw new Error(`receiver ${config.name}: neither smtp nor ses is configured`);
  return nodemailer.createTransport(smtpOptions(smtp));
}

/** Credentials and certificate names must not cross a network in clear text: STARTTLS is required off loopback. */
export function smtpOptions(smtp: NonNullable<EmailReceiverConfig["smtp"]>) {
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: !smtp.secure && !isLoopback(smtp.host),
    auth: smtp.user ? { user: smtp.user, pass: smtp.pass ?? "" } : undefined,
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 30_000,
  };
}

export function emailReceiver(config: EmailReceiverConfig): Receiver {
  const transport = transportFor(config);
  const redact = makeRedactor([config.smtp?.pass]);
  const message = (digest: Digest) => ({
    from: config.from,
    to: config.to,
    subject: subject(config, digest),
    text: plainText(digest, config.language),
    html: html(digest, config.language),
  });
  return {
    name: config.name,
    type: "email",
    maxAlertsPerMessage: 500,
    preview: (digest) => plainText(digest, config.language),
    payload: (digest) => JSON.stringify(message(digest)),
    async send(digest) {
      try {
        await transport.sendMail({
          ...(config.ses?.configurationSetName
            ? { ses: { ConfigurationSetName: config.ses.configurationSetName } }
            : {}),
          ...message(digest),
        });
      } catch (error) {
        throw classify(error, redact);
      }
    },
    close: async () => transport.close(),
  };
}
