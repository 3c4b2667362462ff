import { spawn } from "node:child_process";
import { once } from "node:events";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import { progressLines, redrawBlock, type RunningSource } from "../lib/cli/output.js";
import { KEYS, Rig } from "./harness.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Just enough of a terminal to see what a redraw leaves on screen: printable characters, `\r`, `\n`, cursor up
 * (`ESC [ n A`) and erase to the end of the screen (`ESC [ J`). A character past the last column wraps onto the next
 * row, as a real terminal's does.
 */
class Screen {
  rows: string[] = [""];
  private row = 0;
  private column = 0;

  constructor(private readonly columns: number) {}

  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const char = text[i] as string;
      if (char === "\x1b") {
        // eslint-disable-next-line no-control-regex -- reading escape sequences is the point
        const sequence = /^\x1b\[(\d*)([AJ])/.exec(text.slice(i));
        if (!sequence) throw new Error(`unexpected escape ${JSON.stringify(text.slice(i, i + 6))}`);
        if (sequence[2] === "A") this.row = Math.max(0, this.row - Number(sequence[1] || 1));
        else this.rows = [...this.rows.slice(0, this.row), (this.rows[this.row] ?? "").slice(0, this.column)];
        i += sequence[0].length - 1;
      } else if (char === "\r") {
        this.column = 0;
      } else if (char === "\n") {
        this.moveTo(this.row + 1, 0);
      } else {
        if (this.column === this.columns) this.moveTo(this.row + 1, 0);
        const line = (this.rows[this.row] ?? "").padEnd(this.column);
        this.rows[this.row] = line.slice(0, this.column) + char + line.slice(this.column + 1);
        this.column++;
      }
    }
  }

  /** What a person sees: every row, trailing blank ones left out. */
  get text(): string {
    return this.rows.join("\n").trimEnd();
  }

  private moveTo(row: number, column: number): void {
    this.row = row;
    this.column = column;
    while (this.rows.length <= row) this.rows.push("");
  }
}

function source(name: string, objects: number, total?: number, throttled = 0): RunningSource {
  return { name, progress: { objects, total, calls: objects * 3, throttled }, elapsedMs: 61_500 };
}

describe("the live progress block", () => {
  const sources = [
    source("ali-org-ssl.1234567890123456.2", 12_345, 20_000, 7),
    source("hw-prod", 40, 120),
    source("edge", 3),
  ];

  it("shows one line per source: objects of the total when known, calls, throttling, elapsed", () => {
    expect(progressLines(sources, { columns: 200, rows: 40 })).toEqual([
      "ali-org-ssl.12345678901…  12,345 of 20,000 objects  37,035 calls  7 throttled  61s",
      "hw-prod                   40 of 120 objects  120 calls  61s",
      "edge                      3 objects  9 calls  61s",
    ]);
  });

  it("keeps every line under the terminal's width and the block under its height", () => {
    for (const columns of [10, 40, 79, 100]) {
      const lines = progressLines(sources, { columns, rows: 40 });
      expect(lines).toHaveLength(3);
      for (const line of lines) expect(line.length).toBeLessThan(columns);
    }
    const many = Array.from({ length: 30 }, (_, i) => source(`unit-${i}`, i));
    const block = progressLines(many, { columns: 80, rows: 10 });
    expect(block).toHaveLength(9);
    expect(block.at(-1)).toBe("... and 22 more sources");
  });

  it("redraws in place on a narrow terminal, leaving no stale characters, and clears itself at the end", () => {
    const columns = 40;
    const screen = new Screen(columns);
    let drawn = 0;
    const draw = (lines: string[]) => {
      screen.write(redrawBlock(drawn, lines));
      drawn = lines.length;
    };
    const size = { columns, rows: 24 };
    draw(progressLines(sources, size));
    draw(progressLines([source("hw-prod", 120, 120), source("edge", 2_000_000)], size));
    expect(screen.text).toBe(
      ["hw-prod  120 of 120 objects  360 calls…", "edge     2,000,000 objects  6,000,000 …"].join("\n"),
    );
    // A source finishes: the block is cleared, its line printed, the rest drawn again below it.
    draw([]);
    screen.write("hw-prod  huawei-scm  ok  120 objects\n");
    draw(progressLines([source("edge", 7)], size));
    expect(screen.text).toBe(
      ["hw-prod  huawei-scm  ok  120 objects", "edge  7 objects  21 calls  61s"].join("\n"),
    );
    draw([]);
    expect(screen.text).toBe("hw-prod  huawei-scm  ok  120 objects");
  });

  it("would leave stale rows if a line reached the last column: the reason lines stop one short of it", () => {
    const screen = new Screen(10);
    screen.write(redrawBlock(0, ["x".repeat(15)]));
    screen.write(redrawBlock(1, []));
    expect(screen.text).toBe("xxxxxxxxxx");
  });
});

describe("certwatch as installed: bin/certwatch.js in a child process", () => {
  const rig = new Rig(Rig.fleet(400, new Date("2026-11-22T00:00:00Z")));
  let dir: string;
  let config: string;
  let bin: string;

  /** Runs the installed command as `certwatch ... | head -1` in a shell: its exit status, what head printed, stderr. */
  async function pipedIntoHead(args: string[]) {
    const shell = 'set -o pipefail; node "$@" | head -1';
    const child = spawn("bash", ["-c", shell, "bash", bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, "close")) as [number];
    return { code, stdout, stderr };
  }

  beforeAll(async () => {
    await rig.start();
    // The layout `npm install` makes: package.json, bin/ and the built dist/ side by side, node_modules beside them.
    // dist/ is built here from the current source, so that the test never runs a stale build.
    dir = await mkdtemp(join(tmpdir(), "certwatch-installed-"));
    await mkdir(join(dir, "bin"));
    await copyFile(join(ROOT, "package.json"), join(dir, "package.json"));
    await copyFile(join(ROOT, "bin", "certwatch.js"), join(dir, "bin", "certwatch.js"));
    await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
    await build({
      entryPoints: [join(ROOT, "lib", "cli", "main.ts")],
      outfile: join(dir, "dist", "lib", "cli", "main.js"),
      bundle: true,
      platform: "node",
      format: "esm",
      packages: "external",
      logLevel: "silent",
    });
    bin = join(dir, "bin", "certwatch.js");
    config = join(dir, "certwatch.yml");
    await writeFile(
      config,
      `store: { type: embedded, path: ${JSON.stringify(join(dir, "store"))} }\n${rig.yaml()}`,
    );
    const quiet = { out: () => {}, err: () => {}, isTTY: false };
    expect(await main(["node", "certwatch", "sweep", "--config", config], quiet)).toBe(0);
  });
  afterAll(async () => {
    await rig.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("`report | head -1` ends quietly: exit 0, nothing on stderr", async () => {
    // Hundreds of objects as JSON: far more than a pipe holds, so the command is still writing when head exits.
    const result = await pipedIntoHead(["report", "--config", config, "--format", "json"]);
    expect(result).toEqual({ code: 0, stdout: "[\n", stderr: "" });
  });

  it("Ctrl-C in the middle of a source swept in parts saves its place; the next sweep continues from it", async () => {
    // Two calls a second over eight pages: the listing takes about four seconds, time to interrupt it.
    const slow = join(dir, "slow.yml");
    await writeFile(
      slow,
      `store: { type: embedded, path: ${JSON.stringify(join(dir, "slow-store"))} }
sources:
  - { name: slow, type: huawei-scm, endpoint: "${rig.scmUrl}", qps: 2, credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} } }
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${rig.slackUrl}" }
`,
    );
    const listedBefore = rig.scm.stats.requests;
    const child = spawn(process.execPath, [bin, "sweep", "--config", slow], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, "exit");
    while (rig.scm.stats.requests < listedBefore + 3) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill("SIGINT");
    const [code] = (await exited) as [number];
    expect(stderr).toContain("interrupted: a source that can be swept in parts stops at its next page");
    expect(stdout).toMatch(/interrupted after part 1 of a sweep in parts: its place is saved/);
    expect(code).toBe(1);

    // Continued, not begun again: fewer than the listing's eight pages.
    const listedByPart1 = rig.scm.stats.requests;
    const quiet = { out: () => {}, err: () => {}, isTTY: false };
    expect(await main(["node", "certwatch", "sweep", "--config", slow], quiet)).toBe(0);
    expect(rig.scm.stats.requests - listedByPart1).toBeLessThan(8);
    const lines: string[] = [];
    const report = { out: (line: string) => lines.push(line), err: () => {}, isTTY: false };
    expect(await main(["node", "certwatch", "report", "--config", slow, "--format", "json"], report)).toBe(0);
    expect(JSON.parse(lines.join("\n"))).toHaveLength(400);
  }, 60_000);

  it("--version and -V print the package's version", async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const child = spawn(process.execPath, [bin, flag], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      const [code] = (await once(child, "exit")) as [number];
      expect({ code, stdout }).toEqual({ code: 0, stdout: `${version}\n` });
    }
  });
});
