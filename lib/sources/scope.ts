import { createHash } from "node:crypto";
import type { SourceConfig } from "../config/schema.js";
import { parseDuration } from "../model/time.js";
import type { HttpClient, Limiter } from "./http.js";
import type { WalkRules } from "./paging.js";
import type { CollectContext } from "./types.js";

/**
 * Which vendor budget a source spends: sources with the same credential share it, whatever their names; each member
 * account of an organization has its own. A hash,
 * so that the key itself never becomes a queue group id, a log field or a map key.
 */
export function credentialScope(source: SourceConfig): string {
  const cloud = source.type.startsWith("huawei") ? "huawei" : "aliyun";
  const { credentials } = source;
  // A member of an organization spends its own account's budget, whoever's keys assumed its role.
  const identity =
    (source.account ? `account:${source.account.id}` : undefined) ??
    credentials.accessKey ??
    ("token" in credentials ? credentials.token : undefined) ??
    source.name;
  return `${cloud}-${createHash("sha256").update(identity).digest("hex").slice(0, 16)}`;
}

/**
 * How a source's calls are paced: its credential's shared limiter (10 calls a second and 4 in flight unless the
 * source says otherwise) and the time each call may take (20 s unless `timeout`).
 */
export function pacingOf(source: SourceConfig, http: HttpClient): { limiter: Limiter; timeoutMs: number } {
  return {
    limiter: http.limiterFor(credentialScope(source), source.qps ?? 10, source.concurrency ?? 4),
    timeoutMs: parseDuration(source.timeout ?? "20s") ?? 20_000,
  };
}

/**
 * The most pages one walk of a listing may take unless the source says otherwise (`maxPages`). A large private-CA
 * estate of 100,000 client certificates is 2,000 pages of 50; 10,000 pages hold 500,000 entries at 50 a page (a
 * million at 100), and at the default 10 calls a second take longer than the time budget anyway. What the cap is for
 * is a total that makes no sense (10,000,000 with empty pages after the first): refused before page 2 is asked for.
 */
export const DEFAULT_MAX_PAGES = 10_000;

/**
 * How long collecting one source may take unless it says otherwise (`timeBudget`). The sweep Lambda stops at 600 s
 * (serverless.yml); after collecting, the sweep still diffs, looks up what is missing and writes the store and the
 * ledger, so the budget leaves it two minutes. A sweep killed by Lambda records nothing, not even that it failed.
 */
export const DEFAULT_TIME_BUDGET = "8m";

/** What every walk of a source's listings keeps to: its page cap, and whom to tell when the listing moves. */
export function walkRulesOf(source: SourceConfig, context: CollectContext): WalkRules {
  return { maxPages: source.maxPages ?? DEFAULT_MAX_PAGES, unsettled: context.unsettled };
}

/** The source's time budget, in milliseconds and as written (for the message that names it). */
export function timeBudgetOf(source: SourceConfig): { ms: number; text: string } {
  const text = source.timeBudget ?? DEFAULT_TIME_BUDGET;
  // The schema refuses a duration that does not parse.
  return { ms: parseDuration(text) as number, text };
}
