import { shellWord } from "../model/text.js";
import type { Alert, ObjectKind, Observation, Severity } from "../model/types.js";

/** Every word a receiver shows a person, per language. Rules keep their English summaries for logs and the CLI. */
export type Language = "en" | "zh-CN";

export interface Messages {
  severity: Record<Severity | "resolved", string>;
  transition: (alert: Alert) => string;
  /** `2 critical, 5 warning` */
  counts: (counts: { key: Severity | "resolved"; count: number }[]) => string;
  nothingNew: string;
  generated: (at: string) => string;
  /** What happens when: the alert's news in words. */
  when: (alert: Alert) => string;
  action: (alert: Alert) => string;
  kind: Record<ObjectKind, string>;
  detail: Record<string, string>;
  source: (name: string) => string;
  noDomain: string;
  more: (count: number) => string;
  toAcknowledge: string;
  columns: { severity: string; certificate: string; when: string; where: string; action: string };
  test: { title: string; body: string };
}

/**
 * The exact command an operator runs to redeploy a failed worker's job, or to repeat a redeploy notice's attempt
 * (of all workers, with its certificate); vendor ids are quoted for the shell.
 */
const redeployCommand = (alert: Alert) => {
  const { labels, details } = alert.object;
  const job = details?.fromJob ?? details?.jobId ?? "?";
  const allWorkers = allWorkersOf(alert)
    ? ` --all-workers --cert ${shellWord(details?.certificate ?? "CERT_ID")}`
    : "";
  return `certwatch redeploy --source ${shellWord(labels.source)} --job ${shellWord(job)}${allWorkers}`;
};
/** A redeploy notice for every worker of a job (`--all-workers`), not its failed workers. */
const allWorkersOf = (alert: Alert) => alert.rule === "redeploy" && alert.object.details?.scope === "all";
/** A redeploy notice whose job exists (scheduled or not) rather than one that was refused. */
const redeployCreated = (alert: Alert) => alert.stage === "pending" || alert.stage === "editing";
const dateOf = (iso: string | undefined) => iso?.slice(0, 10) ?? "?";
const isAuthority = (alert: Alert) => alert.object.kind === "certificate-authority";
const minuteOf = (iso: string) => `${iso.slice(0, 16).replace("T", " ")} UTC`;

const en: Messages = {
  severity: { critical: "critical", warning: "warning", info: "info", resolved: "resolved" },
  transition: (alert) =>
    alert.transition === "reminder" ? `reminder ${alert.reminder ?? ""}`.trim() : alert.transition,
  counts: (counts) => counts.map(({ key, count }) => `${count} ${key}`).join(", "),
  nothingNew: "nothing new",
  generated: (at) => `Generated ${at}`,
  when: (alert) => {
    if (alert.staleSince)
      return `${alert.summary} (source unreachable: as last seen ${minuteOf(alert.staleSince)})`;
    if (alert.missingSince)
      return `${alert.summary} (not in the listing since ${minuteOf(alert.missingSince)}: as last seen)`;
    return alert.summary;
  },
  action: (alert) => {
    if (alert.transition === "resolved") return "nothing to do";
    const { successor, details } = alert.object;
    switch (alert.rule) {
      case "source-health":
        return "check the source's credentials, permissions and endpoint: certwatch validate";
      case "stale":
        return "check that the scheduled sweep runs and can reach the source";
      case "revocation":
        return isAuthority(alert)
          ? "replace the CA and reissue every certificate it signed"
          : "replace the certificate wherever it is deployed";
      case "deployment":
        return alert.stage === "stuck"
          ? `check deployment job ${details?.jobId} in the CAS console`
          : `fix the cause, then redeploy the failed workers: ${redeployCommand(alert)}`;
      case "not-deployed":
        return "deploy the newer certificate to this endpoint (its load balancer, CDN or gateway), then check it serves it";
      case "not-in-inventory":
        return "add the account that holds it as a source, so that its renewal is watched; or leave it, if another tool watches it";
      case "chain-expiry":
        return "deploy the certificate with its current intermediate (the full chain your CA issues now)";
      case "hostname":
        return "deploy a certificate that names this host, or fix the endpoint's SNI mapping";
      case "handshake":
        return "check that the endpoint is up and reachable from certwatch on this port, and serves TLS";
      case "weak-key":
        return "reissue the certificate with an RSA key of 2048 bits or more (or EC) and deploy it";
      case "sha1-signature":
        return "reissue the certificate with a SHA-256 signature and deploy it";
      case "san-mismatch":
        return "check which names the certificate should hold, then reissue it or correct the listing";
      case "redeploy":
        if (alert.stage === "pending")
          return allWorkersOf(alert)
            ? `nothing to do: job ${details?.jobId} deploys certificate ${details?.certificate} to every worker of job ${details?.fromJob}`
            : `nothing to do: the failed-worker alerts resolve when job ${details?.jobId} succeeds`;
        if (alert.stage === "editing") return `schedule job ${details?.jobId}: ${redeployCommand(alert)}`;
        if (alert.stage === "unknown")
          return `look for job "${details?.jobName}" in the CAS console; if there is none: ${redeployCommand(alert)} --force`;
        return `fix the cause, then: ${redeployCommand(alert)}`;
    }
    if (successor) {
      return `activate the new one: inactive certificate ${successor.nativeId} is valid until ${dateOf(successor.notAfter)}`;
    }
    if (isAuthority(alert)) {
      return alert.stage === "expired"
        ? "replace the CA and reissue every certificate it signed; they are failing now"
        : "renew the CA, or create a new one, and reissue the certificates it signed before it expires";
    }
    return alert.stage === "expired"
      ? "renew or replace it now; clients are failing"
      : "renew the certificate and deploy the new one";
  },
  kind: {
    certificate: "certificate",
    "client-certificate": "client certificate",
    "certificate-authority": "certificate authority",
    "deployment-task": "deployment worker",
    "deployment-job": "deployment job",
    source: "source",
    endpoint: "endpoint",
  },
  detail: {
    job: "job",
    resource: "resource",
    certificate: "certificate",
    application: "application",
    issuer: "issuer",
  },
  source: (name) => `source ${name}`,
  noDomain: "(no domain)",
  more: (count) => `+${count} more`,
  toAcknowledge: "to acknowledge",
  columns: {
    severity: "Severity",
    certificate: "Certificate",
    when: "When",
    where: "Where",
    action: "What to do",
  },
  test: { title: "certwatch test message", body: "This receiver works. No action needed." },
};

/** What a CA takes with it, as `dependentsClause` (lib/rules/expiry.ts) says it in English. */
function zhDependents(object: Observation): string {
  const text = object.details?.dependents;
  if (text === undefined || !/^\d+$/.test(text)) return "它签发的所有证书将随之失效";
  return text === "0" ? "certwatch 未发现依赖它的证书" : `已知 ${text} 个证书依赖它`;
}

function zhSpan(alert: Alert): string {
  const days = alert.daysLeft ?? 0;
  return days >= 1 ? `${days} 天后` : "不到 1 天后";
}

const zhCN: Messages = {
  severity: { critical: "严重", warning: "警告", info: "提示", resolved: "已恢复" },
  transition: (alert) =>
    ({ new: "新告警", escalated: "升级", reminder: `第 ${alert.reminder ?? 1} 次提醒`, resolved: "已恢复" })[
      alert.transition
    ],
  counts: (counts) => counts.map(({ key, count }) => `${count} 个${zhCN.severity[key]}`).join("，"),
  nothingNew: "没有新情况",
  generated: (at) => `生成于 ${at}`,
  when: (alert) => {
    const { object } = alert;
    const details = object.details ?? {};
    let text: string;
    if (alert.transition === "resolved") {
      text = `已恢复（之前为 ${alert.resolvedFrom ?? "告警"}）`;
    } else if (alert.rule === "expiry") {
      text =
        alert.stage === "expired"
          ? `已过期（${dateOf(object.notAfter)}）`
          : `将在 ${zhSpan(alert)}过期（${dateOf(object.notAfter)}）`;
    } else if (alert.rule === "revocation") {
      text = object.revokedAt ? `已于 ${minuteOf(object.revokedAt)} 吊销` : "已吊销";
    } else if (alert.rule === "deployment") {
      const where = `${object.labels.product ?? ""} ${details.resource ?? ""}`.trim();
      const job = details.job ?? "?";
      text =
        alert.stage === "failed"
          ? `部署到 ${where} 失败（${object.rawStatus}，任务 ${job}）`
          : alert.stage === "rolled-back"
            ? `部署到 ${where} 已回滚（任务 ${job}）`
            : `部署到 ${where} 卡在 ${object.rawStatus} 状态（任务 ${job}）`;
    } else if (alert.rule === "redeploy") {
      const how = details.trigger === "automatic" ? "自动" : "通过 certwatch redeploy";
      const workers = allWorkersOf(alert)
        ? `任务 ${details.fromJob ?? "?"} 的全部 ${details.workers ?? "?"} 个部署（证书 ${details.certificate ?? "?"}）`
        : `任务 ${details.fromJob ?? "?"} 的 ${details.workers ?? "?"} 个失败部署`;
      text = redeployCreated(alert)
        ? `已为${workers}创建重新部署任务 ${details.jobId ?? "?"}（${how}）` +
          (alert.stage === "editing" ? `；尚未启动：${details.error ?? ""}` : "")
        : alert.stage === "unknown"
          ? `重新部署${workers}（${how}）时证书服务没有明确答复，任务可能已创建：${details.error ?? ""}`
          : `重新部署${workers}（${how}）被拒绝：${details.error ?? ""}`;
    } else if (alert.rule === "source-health") {
      text = `certwatch 无法读取此来源：连续 ${details.failures ?? "多"} 次扫描失败；最近错误：${object.rawStatus}`;
    } else if (alert.rule === "stale") {
      text = `自 ${details.lastSuccessAt ?? "?"} 以来没有成功的扫描`;
    } else if (alert.rule === "chain-expiry") {
      text = `提供的证书链中有中间证书先于该证书（${dateOf(object.notAfter)}）过期`;
    } else if (alert.rule === "hostname") {
      text = `提供的证书不包含主机名 ${details.serverName ?? details.host ?? "?"}`;
    } else if (alert.rule === "handshake") {
      text = `连续 ${details.failures ?? "多"} 次 TLS 握手失败；最近错误：${details.error ?? "?"}`;
    } else if (alert.rule === "weak-key") {
      text = "证书的 RSA 密钥短于 2048 位";
    } else if (alert.rule === "sha1-signature") {
      text = "证书使用 SHA-1 签名";
    } else if (alert.rule === "san-mismatch") {
      text = "证书的 SAN 与列出的域名不一致";
    } else {
      text = alert.summary;
    }
    const caNews =
      alert.transition !== "resolved" && (alert.rule === "expiry" || alert.rule === "revocation");
    if (object.kind === "certificate-authority" && caNews) {
      text = `${text}；${zhDependents(object)}`;
    }
    if (alert.staleSince) return `${text}（来源不可达：数据截至 ${minuteOf(alert.staleSince)}）`;
    if (alert.missingSince)
      return `${text}（自 ${minuteOf(alert.missingSince)} 起未出现在列表中：按最后所见）`;
    return text;
  },
  action: (alert) => {
    if (alert.transition === "resolved") return "无需处理";
    const { successor, details } = alert.object;
    switch (alert.rule) {
      case "source-health":
        return "检查该来源的凭证、权限和接入地址：certwatch validate";
      case "stale":
        return "检查定时扫描是否在运行并能访问该来源";
      case "revocation":
        return isAuthority(alert) ? "更换该 CA，并重新签发它签发过的所有证书" : "在所有部署位置更换该证书";
      case "deployment":
        return alert.stage === "stuck"
          ? `在证书管理控制台检查部署任务 ${details?.jobId}`
          : `排除原因后，重新部署失败的部分：${redeployCommand(alert)}`;
      case "not-deployed":
        return "将较新的证书部署到该端点（负载均衡、CDN 或网关），并确认其已生效";
      case "not-in-inventory":
        return "将持有该证书的账号添加为数据源，以便监控其续期；如已有其他工具监控，可忽略";
      case "chain-expiry":
        return "部署证书时附上 CA 当前签发的完整中间证书链";
      case "hostname":
        return "部署包含此主机名的证书，或修正该端点的 SNI 配置";
      case "handshake":
        return "检查该端点是否在线、certwatch 能否访问此端口，以及是否提供 TLS";
      case "weak-key":
        return "使用 2048 位或以上的 RSA 密钥（或 EC 密钥）重新签发并部署证书";
      case "sha1-signature":
        return "使用 SHA-256 签名重新签发并部署证书";
      case "san-mismatch":
        return "核对证书应包含的域名，然后重新签发证书或更正列表";
      case "redeploy":
        if (alert.stage === "pending")
          return allWorkersOf(alert)
            ? `无需处理：任务 ${details?.jobId} 会将证书 ${details?.certificate} 部署到任务 ${details?.fromJob} 的全部资源`
            : `无需处理：任务 ${details?.jobId} 成功后，失败告警会自动恢复`;
        if (alert.stage === "editing") return `启动任务 ${details?.jobId}：${redeployCommand(alert)}`;
        if (alert.stage === "unknown")
          return `在证书管理控制台查找名为 "${details?.jobName}" 的任务；若没有：${redeployCommand(alert)} --force`;
        return `排除原因后：${redeployCommand(alert)}`;
    }
    if (successor)
      return `启用新证书：未启用的证书 ${successor.nativeId} 有效期至 ${dateOf(successor.notAfter)}`;
    if (isAuthority(alert)) {
      return alert.stage === "expired"
        ? "更换该 CA，并重新签发它签发过的所有证书；这些证书现在已无法使用"
        : "在 CA 过期前续期或新建 CA，并重新签发它签发过的证书";
    }
    return alert.stage === "expired" ? "立即续期或更换，客户端正在报错" : "续期证书并部署新证书";
  },
  kind: {
    certificate: "证书",
    "client-certificate": "客户端证书",
    "certificate-authority": "证书颁发机构",
    "deployment-task": "部署任务",
    "deployment-job": "部署作业",
    source: "来源",
    endpoint: "端点",
  },
  detail: { job: "任务", resource: "资源", certificate: "证书", application: "应用", issuer: "签发者" },
  source: (name) => `来源 ${name}`,
  noDomain: "（无域名）",
  more: (count) => `等 ${count} 个`,
  toAcknowledge: "确认告警",
  columns: { severity: "级别", certificate: "证书", when: "情况", where: "位置", action: "处理建议" },
  test: { title: "certwatch 测试消息", body: "此接收方工作正常，无需处理。" },
};

export const messages: Record<Language, Messages> = { en, "zh-CN": zhCN };
