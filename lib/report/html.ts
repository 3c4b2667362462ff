import { servedDetails } from "../sources/tls/served.js";
import { fit, oneLine } from "../model/text.js";
import { DAY_MS } from "../model/time.js";
import { escapeHtml } from "../notify/digest.js";
import {
  INVENTORY_KINDS,
  type Inventory,
  ROW_SEVERITIES,
  type ReportRow,
  type RowSeverity,
} from "./inventory.js";

const COLOURS: Record<RowSeverity, string> = {
  critical: "#d93025",
  warning: "#e37400",
  info: "#1a73e8",
  ok: "#188038",
};

/** The most a cell shows of a name, a domain list or an error: a long one must not push the columns away. */
const CELL_CHARS = 200;

/** Untrusted text in the page: one line without controls, which could reach a terminal when no --out is given. */
const attribute = (value: string) => escapeHtml(oneLine(value));
const cellText = (value: string) => escapeHtml(fit(oneLine(value), CELL_CHARS));

export const TIMELINE_DAYS = 90;
const WEEK_MS = 7 * DAY_MS;

/** The week (0 = the seven days from now) in which a row expires, if within the timeline's 90 days. */
export function timelineWeek(row: ReportRow, now: Date): number | undefined {
  if (!row.notAfter) return undefined;
  const remainingMs = Date.parse(row.notAfter) - now.getTime();
  if (remainingMs < 0 || remainingMs >= TIMELINE_DAYS * DAY_MS) return undefined;
  return Math.floor(remainingMs / WEEK_MS);
}

/** One stacked bar per week with expiries (`data-week` = the week's first day), a label under every week. */
function timeline(inventory: Inventory): string {
  const weeks = Math.ceil(TIMELINE_DAYS / 7);
  const counts = Array.from({ length: weeks }, () => ({ critical: 0, warning: 0, info: 0, ok: 0 }));
  for (const row of inventory.rows) {
    const week = timelineWeek(row, inventory.now);
    if (week !== undefined) (counts[week] as Record<RowSeverity, number>)[row.severity]++;
  }
  const highest = Math.max(1, ...counts.map((week) => Object.values(week).reduce((a, b) => a + b, 0)));
  const [slot, chart, top] = [48, 140, 20];
  const parts: string[] = [];
  counts.forEach((week, index) => {
    const day = new Date(inventory.now.getTime() + index * WEEK_MS).toISOString().slice(0, 10);
    const x = index * slot + 8;
    const total = Object.values(week).reduce((a, b) => a + b, 0);
    parts.push(`<text x="${x + 16}" y="${top + chart + 16}" class="label">${day.slice(5)}</text>`);
    if (total === 0) return;
    let y = top + chart;
    const rects = ROW_SEVERITIES.filter((severity) => week[severity] > 0).map((severity) => {
      const height = (week[severity] / highest) * chart;
      y -= height;
      return `<rect x="${x}" y="${y.toFixed(1)}" width="32" height="${height.toFixed(1)}" fill="${COLOURS[severity]}"><title>${week[severity]} ${severity}</title></rect>`;
    });
    parts.push(
      `<g class="bar" data-week="${day}" data-count="${total}">${rects.join("")}<text x="${x + 16}" y="${(y - 4).toFixed(1)}" class="count">${total}</text></g>`,
    );
  });
  const width = weeks * slot + 8;
  return `<svg id="timeline" viewBox="0 0 ${width} ${top + chart + 24}" role="img" aria-label="expiries per week for the next ${TIMELINE_DAYS} days">${parts.join("")}</svg>`;
}

function countsTable(inventory: Inventory): string {
  const head = `<tr><th>source</th>${INVENTORY_KINDS.map((kind) => `<th>${kind}</th>`).join("")}<th>total</th></tr>`;
  const body = inventory.sources.map((source) => {
    const rows = inventory.rows.filter((row) => row.labels.source === source.name);
    const cells = INVENTORY_KINDS.map((kind) => `<td>${rows.filter((row) => row.kind === kind).length}</td>`);
    return `<tr><td>${cellText(source.name)}</td>${cells.join("")}<td>${rows.length}</td></tr>`;
  });
  return `<table><thead>${head}</thead><tbody>${body.join("")}</tbody></table>`;
}

function healthTable(inventory: Inventory): string {
  const body = inventory.sources.map(({ name, type, lastSweep }) => {
    const state = !lastSweep ? "never swept" : lastSweep.ok ? "ok" : "FAILED";
    const cells = [
      name,
      type,
      lastSweep ? `${state} at ${lastSweep.at}` : state,
      lastSweep?.lastSuccessAt ?? "never",
      lastSweep?.ok === false ? (lastSweep.error ?? "unknown error") : "",
    ];
    const failed = lastSweep?.ok === false ? ' class="failed"' : "";
    return `<tr${failed}>${cells.map((cell) => `<td>${cellText(cell)}</td>`).join("")}</tr>`;
  });
  return `<table><thead><tr><th>source</th><th>type</th><th>last sweep</th><th>last good sweep</th><th>last error</th></tr></thead><tbody>${body.join("")}</tbody></table>`;
}

/**
 * What each endpoint serves beside the newest certificate the inventories hold for its name: where the second
 * outlives the first, the renewal has not been deployed there.
 */
function endpointsTable(inventory: Inventory): string {
  const endpoints = inventory.rows.filter((row) => row.kind === "endpoint");
  if (endpoints.length === 0) return "";
  const body = endpoints.map((row) => {
    const served = servedDetails(row);
    const newest = row.inventoryNewest;
    const behind = newest?.notAfter && row.notAfter && newest.notAfter > row.notAfter;
    const state =
      row.status === "failed"
        ? `handshake failing: ${row.details?.error ?? "unknown error"}`
        : behind
          ? "renewed but not deployed"
          : newest
            ? "serves the newest"
            : "no inventory certificate for this name";
    const cells = [
      row.name,
      served ? `${served.leaf.subject}, until ${served.leaf.notAfter.slice(0, 10)}` : "-",
      newest
        ? `${newest.name} (${newest.nativeId}) in ${newest.source}, until ${newest.notAfter?.slice(0, 10) ?? "-"}`
        : "-",
      state,
    ];
    return `<tr class="${row.severity}">${cells.map((cell) => `<td>${cellText(cell)}</td>`).join("")}</tr>`;
  });
  return `<h2>Endpoints: what is served, and what the inventory holds</h2>
<div class="scroll"><table id="endpoints"><thead><tr><th>endpoint</th><th>serves</th><th>newest in the inventory</th><th>state</th></tr></thead><tbody>${body.join("")}</tbody></table></div>`;
}

/** Header title, sort type, and cell (text, sort value) per column of the inventory table. */
const COLUMNS: [string, "text" | "number", (row: ReportRow) => [string, string]][] = [
  ["expires", "text", (row) => [row.notAfter?.slice(0, 10) ?? "-", row.notAfter ?? "~"]],
  ["days left", "number", (row) => [String(row.daysLeft ?? "-"), String(row.daysLeft ?? "")]],
  ["severity", "text", (row) => [row.severity, String(ROW_SEVERITIES.indexOf(row.severity))]],
  ["name", "text", (row) => [row.name, row.name]],
  ["domains", "text", (row) => [row.domains.join(", "), row.domains[0] ?? ""]],
  ["kind", "text", (row) => [row.kind, row.kind]],
  ["source", "text", (row) => [row.labels.source, row.labels.source]],
  [
    "status",
    "text",
    (row) => {
      const replaced = row.replacedBy ? `, replaced by ${row.replacedBy}` : "";
      return [`${row.status} (${row.rawStatus})${replaced}`, row.status];
    },
  ],
  ["id", "text", (row) => [row.nativeId, row.nativeId]],
];

function inventoryTable(inventory: Inventory): string {
  // Rows come live problems first (compareRows), an order no single column gives: no header is marked sorted.
  const head = COLUMNS.map(([title, type]) => `<th data-type="${type}">${title}</th>`).join("");
  const body = inventory.rows.map((row) => {
    const search = [row.key, row.name, ...row.domains, row.kind, row.labels.source, row.status].join(" ");
    const cells = COLUMNS.map(([, , cell]) => {
      const [shown, value] = cell(row);
      return `<td data-value="${attribute(value)}">${cellText(shown)}</td>`;
    });
    return `<tr class="${row.severity}" data-search="${attribute(search.toLowerCase())}">${cells.join("")}</tr>`;
  });
  return `<table id="inventory"><thead><tr>${head}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:12px;color:#202124}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;white-space:nowrap}
th,td{padding:4px 8px;border-bottom:1px solid #e0e0e0;text-align:left}
#inventory th{cursor:pointer;user-select:none;background:#f1f3f4}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
tr.critical td:nth-child(3){color:${COLOURS.critical};font-weight:600}
tr.warning td:nth-child(3){color:${COLOURS.warning};font-weight:600}
tr.failed td{color:${COLOURS.critical}}
#timeline{width:100%;max-width:700px;height:auto}
#timeline .label,#timeline .count{font-size:10px;text-anchor:middle;fill:#5f6368}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
#filter{font-size:16px;padding:6px;width:100%;max-width:400px;box-sizing:border-box;margin-bottom:8px}`;

/** Hides rows not containing the filter text; sorts by a clicked header, toggling the direction. */
const SCRIPT = `
const table = document.getElementById("inventory");
const body = table.tBodies[0];
const rows = [...body.rows];
document.getElementById("filter").addEventListener("input", (event) => {
  const text = event.target.value.trim().toLowerCase();
  for (const row of rows) row.hidden = !row.dataset.search.includes(text);
});
table.querySelectorAll("th").forEach((th, column) => th.addEventListener("click", () => {
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th").forEach((other) => other.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const number = th.dataset.type === "number";
  const key = (row) => {
    const value = row.cells[column].dataset.value;
    return number ? (value === "" ? Infinity : Number(value)) : value;
  };
  rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * (ascending ? 1 : -1));
  body.append(...rows);
}));`;

/** The whole report as one self-contained page: nothing is fetched, so it can be mailed or archived as is. */
export function renderHtml(inventory: Inventory): string {
  const generated = inventory.now.toISOString();
  const expired = inventory.rows.filter(
    (row) => row.notAfter && Date.parse(row.notAfter) <= inventory.now.getTime(),
  ).length;
  const legend = ROW_SEVERITIES.map(
    (severity) => `<span><i style="background:${COLOURS[severity]}"></i>${severity}</span>`,
  ).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>certwatch report ${generated.slice(0, 10)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>certwatch inventory</h1>
<p>As of ${generated}: ${inventory.rows.length} objects, ${expired} already expired.</p>
<h2>Expiries per week, next ${TIMELINE_DAYS} days</h2>
<div class="legend">${legend}</div>
${timeline(inventory)}
<h2>Objects per source and kind</h2>
<div class="scroll">${countsTable(inventory)}</div>
<h2>Source health</h2>
<div class="scroll">${healthTable(inventory)}</div>
${endpointsTable(inventory)}
<h2>Inventory</h2>
<input id="filter" type="search" placeholder="filter: name, domain, source, status" aria-label="filter the inventory">
<div class="scroll">${inventoryTable(inventory)}</div>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
