import { csvField, escapeInJson, fit, oneLine } from "../model/text.js";
import type { Inventory, ReportRow, RowSeverity } from "./inventory.js";

const ANSI: Record<RowSeverity, string> = {
  critical: "\x1b[31m",
  warning: "\x1b[33m",
  info: "\x1b[36m",
  ok: "",
};
const RESET = "\x1b[0m";

/** The widest a name or domain may make its column, so that a long one leaves the others on screen. */
const CELL_CHARS = 60;

const TABLE_COLUMNS: [string, (row: ReportRow) => string][] = [
  ["EXPIRES", (row) => row.notAfter?.slice(0, 10) ?? "-"],
  ["DAYS LEFT", (row) => (row.daysLeft === undefined ? "-" : String(row.daysLeft))],
  ["SEVERITY", (row) => row.severity],
  ["NAME", (row) => fit(row.name, CELL_CHARS)],
  [
    "DOMAINS",
    (row) => {
      const first = fit(row.domains[0] ?? "-", CELL_CHARS);
      return row.domains.length > 1 ? `${first} +${row.domains.length - 1}` : first;
    },
  ],
  ["KIND", (row) => row.kind],
  ["SOURCE", (row) => row.labels.source],
  ["STATUS", (row) => (row.replacedBy ? `${row.status}, replaced` : row.status)],
  // The native id messages show after the kind; `history` and `ack` take it.
  ["ID", (row) => fit(row.nativeId, CELL_CHARS)],
];

/**
 * Aligned columns, soonest expiry first; each row in its severity's colour when `color` (a terminal). Cells are
 * one line without controls: a name cannot move the cursor, clear the screen or hide a link.
 */
export function renderTable(inventory: Inventory, color: boolean): string {
  const cells = inventory.rows.map((row) => TABLE_COLUMNS.map(([, cell]) => oneLine(cell(row))));
  const widths = TABLE_COLUMNS.map(([title], index) =>
    Math.max(title.length, ...cells.map((line) => (line[index] ?? "").length)),
  );
  const format = (line: string[]) =>
    line
      .map((cell, index) => cell.padEnd(widths[index] ?? 0))
      .join("  ")
      .trimEnd();
  const lines = cells.map((line, index) => {
    const colour = color ? ANSI[inventory.rows[index]?.severity ?? "ok"] : "";
    return colour ? `${colour}${format(line)}${RESET}` : format(line);
  });
  return [format(TABLE_COLUMNS.map(([title]) => title)), ...lines].join("\n");
}

/** Exact values; what JSON leaves raw and a terminal would act on (C1 controls, bidi) is written as \u escapes. */
export function renderJson(inventory: Inventory): string {
  return escapeInJson(JSON.stringify(inventory.rows, null, 2));
}

const CSV_FIELDS: [string, (row: ReportRow) => string | number | undefined][] = [
  ["key", (row) => row.key],
  ["kind", (row) => row.kind],
  ["nativeId", (row) => row.nativeId],
  ["name", (row) => row.name],
  ["domains", (row) => row.domains.join(" ")],
  ["notBefore", (row) => row.notBefore],
  ["notAfter", (row) => row.notAfter],
  ["daysLeft", (row) => row.daysLeft],
  ["severity", (row) => row.severity],
  ["status", (row) => row.status],
  ["rawStatus", (row) => row.rawStatus],
  ["revokedAt", (row) => row.revokedAt],
  ["updatedAt", (row) => row.updatedAt],
  ["successorNativeId", (row) => row.successor?.nativeId],
  ["successorNotAfter", (row) => row.successor?.notAfter],
  ["replacedBy", (row) => row.replacedBy],
];

/** One line per object; labels and details become `labels.NAME` and `details.NAME` columns, whichever occur. */
export function renderCsv(inventory: Inventory): string {
  const names = (pick: (row: ReportRow) => object | undefined) =>
    [...new Set(inventory.rows.flatMap((row) => Object.keys(pick(row) ?? {})))].sort();
  const labels = names((row) => row.labels);
  const details = names((row) => row.details);
  const header = [
    ...CSV_FIELDS.map(([name]) => name),
    ...labels.map((name) => `labels.${name}`),
    ...details.map((name) => `details.${name}`),
  ];
  const lines = inventory.rows.map((row) => [
    ...CSV_FIELDS.map(([, value]) => value(row)),
    ...labels.map((name) => row.labels[name]),
    ...details.map((name) => row.details?.[name]),
  ]);
  // Numbers are ours (daysLeft), and a negative one is not a formula.
  return [header, ...lines]
    .map((line) =>
      line.map((value) => (typeof value === "number" ? String(value) : csvField(value ?? ""))).join(","),
    )
    .join("\n");
}
