import { writeFile } from "node:fs/promises";
import type { ObjectKind } from "../model/types.js";
import { renderHtml } from "../report/html.js";
import { readInventory } from "../report/inventory.js";
import { renderCsv, renderJson, renderTable } from "../report/text.js";
import { openStore } from "../store/open.js";
import { loadForCli, parseNow, selectKnownUnits, UsageError } from "./context.js";
import type { Output } from "./output.js";

export const REPORT_FORMATS = ["table", "json", "csv", "html"] as const;

export interface ReportCommandOptions {
  config: string;
  now?: string;
  within?: string;
  source?: string[];
  kind?: ObjectKind;
  format?: (typeof REPORT_FORMATS)[number];
  out?: string;
}

function parseWithin(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--within: ${JSON.stringify(text)} is not a number of days`);
  return Number(text);
}

/** The inventory from the store, soonest expiry first. Reads only: it never creates or changes a store. */
export async function reportCommand(options: ReportCommandOptions, output: Output): Promise<number> {
  const now = parseNow(options.now);
  const withinDays = parseWithin(options.within);
  const { config } = await loadForCli(options.config);
  const opened = await openStore(config.store, { dryRun: true });
  let inventory;
  try {
    const sources = await selectKnownUnits(config, options.source, options.config, opened.store);
    inventory = await readInventory(opened.store, config, now, { sources, kind: options.kind, withinDays });
  } finally {
    await opened.close();
  }
  if (inventory.sources.every((source) => !source.lastSweep)) {
    const where = config.store.type === "embedded" ? config.store.path : `table ${config.store.table}`;
    output.err(`certwatch: nothing swept into the store (${where}) yet; run \`certwatch sweep\` first`);
  }
  const format = options.format ?? "table";
  const text = {
    table: () => renderTable(inventory, output.isTTY && !options.out),
    json: () => renderJson(inventory),
    csv: () => renderCsv(inventory),
    html: () => renderHtml(inventory),
  }[format]();
  if (options.out) {
    await writeFile(options.out, text.endsWith("\n") ? text : `${text}\n`);
    output.err(`${inventory.rows.length} objects written to ${options.out}`);
  } else output.out(text.trimEnd());
  return 0;
}
