import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import { Rig } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const DAY_MS = 86_400_000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const missing = !existsSync(CHROMIUM);
// A skipped suite's title is easy to miss in the summary: say why, and how to get the browser.
if (missing) {
  console.log(
    `report-browser.test.ts: SKIPPED, no Chromium at ${CHROMIUM}. Install Debian's (apt-get install chromium, as ` +
      ".ci/run does) or set CHROMIUM_PATH to a Chromium binary.",
  );
}

async function run(...args: string[]): Promise<number> {
  const quiet = { out: () => {}, err: () => {}, isTTY: false };
  return main(["node", "certwatch", ...args], quiet);
}

describe.skipIf(missing)(
  missing
    ? `HTML report in a browser: SKIPPED, no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`
    : "HTML report in a browser",
  () => {
    const rig = new Rig(Rig.fleet(40, NOW, 11));
    let dir: string;
    let browser: Browser;
    let page: Page;
    const requests: string[] = [];

    beforeAll(async () => {
      await rig.start();
      dir = await mkdtemp(join(tmpdir(), "certwatch-html-"));
      const config = join(dir, "certwatch.yml");
      await writeFile(
        config,
        `store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }\n${rig.yaml()}`,
      );
      const report = join(dir, "report.html");
      expect(await run("sweep", "--config", config, "--now", NOW.toISOString())).toBe(0);
      expect(
        await run(
          "report",
          "--config",
          config,
          "--now",
          NOW.toISOString(),
          "--format",
          "html",
          "--out",
          report,
        ),
      ).toBe(0);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--no-first-run",
        ],
      });
      page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
      page.on("request", (request) => requests.push(request.url()));
      await page.goto(`file://${report}`);
    });
    afterAll(async () => {
      await browser?.close();
      await rig.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it("loads nothing but itself", () => {
      expect(requests.filter((url) => !url.startsWith("file://"))).toEqual([]);
    });

    it("draws one bar for exactly each week of the next 90 days in which a certificate expires", async () => {
      // From the simulator's own fleet: SCM times are wall-clock +08:00; unissued orders have none.
      const expected = new Map<string, number>();
      for (const cert of rig.certificates) {
        if (!cert.expire_time) continue;
        const notAfter = Date.parse(`${cert.expire_time.replace(" ", "T").replace(/\.0$/, "")}+08:00`);
        const remaining = notAfter - NOW.getTime();
        if (remaining < 0 || remaining >= 90 * DAY_MS) continue;
        const weekStart = NOW.getTime() + Math.floor(remaining / (7 * DAY_MS)) * 7 * DAY_MS;
        const week = new Date(weekStart).toISOString().slice(0, 10);
        expected.set(week, (expected.get(week) ?? 0) + 1);
      }
      expect(expected.size).toBeGreaterThan(3);
      const bars = await page
        .locator("#timeline [data-week]")
        .evaluateAll((elements) =>
          elements.map((element) => [
            element.getAttribute("data-week"),
            Number(element.getAttribute("data-count")),
          ]),
        );
      expect(new Map(bars as [string, number][])).toEqual(expected);
    });

    it("filters the table by a domain to that certificate's rows only", async () => {
      const target = rig.certificates.find((cert) => cert.sans !== "") ?? rig.certificates[0];
      const domain = target?.sans.split(";")[0] ?? "";
      await page.fill("#filter", domain);
      const names = await page.locator("#inventory tbody tr:visible td:nth-child(4)").allTextContents();
      expect(names).toEqual([target?.name]);
      await page.fill("#filter", "");
      expect(await page.locator("#inventory tbody tr:visible").count()).toBe(rig.certificates.length);
    });

    it("shows live problems first, and sorts by expiry when its header is clicked, toggling the direction", async () => {
      const severities = await page.locator("#inventory tbody tr td:nth-child(3)").allTextContents();
      const problems = severities.filter((severity) => severity !== "ok").length;
      expect(problems).toBeGreaterThan(3);
      expect(severities.slice(problems).every((severity) => severity === "ok")).toBe(true);

      const expiries = () =>
        page
          .locator("#inventory tbody tr td:first-child")
          .evaluateAll((cells) => cells.map((cell) => cell.getAttribute("data-value") ?? ""));
      const unsorted = await expiries();
      await page.click("#inventory th:first-child");
      expect(await page.getAttribute("#inventory th:first-child", "aria-sort")).toBe("ascending");
      expect(await expiries()).toEqual([...unsorted].sort());
      await page.click("#inventory th:first-child");
      expect(await page.getAttribute("#inventory th:first-child", "aria-sort")).toBe("descending");
      expect(await expiries()).toEqual([...unsorted].sort().reverse());
    });

    it("uses the window's width: on a wide screen the inventory shows every column without scrolling", async () => {
      await page.setViewportSize({ width: 1800, height: 800 });
      const scroll = await page
        .locator("#inventory")
        .evaluate((table) => ({ parent: table.parentElement?.clientWidth ?? 0, table: table.scrollWidth }));
      expect(scroll.parent).toBeGreaterThan(1700);
      expect(scroll.table).toBeLessThanOrEqual(scroll.parent);
      await page.setViewportSize({ width: 1100, height: 800 });
    });

    it("fits a phone: only the tables scroll sideways; screenshot in docs/report.png", async () => {
      await page.screenshot({ path: resolve("docs/report.png"), fullPage: true });
      await page.setViewportSize({ width: 390, height: 800 });
      const overflow = {
        page: await page.locator("html").evaluate((element) => element.scrollWidth),
        table: await page
          .locator("#inventory")
          .evaluate((element) => element.parentElement?.scrollWidth ?? 0),
      };
      expect(overflow.page).toBeLessThanOrEqual(390);
      expect(overflow.table).toBeGreaterThan(390);
    });
  },
);
