import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/** Slack sections of the rendered samples that carry an ack command. */
function ackSections(file: string): string[] {
  const message = JSON.parse(readFileSync(`docs/samples/${file}`, "utf8")) as {
    blocks: { text?: { text: string } }[];
  };
  return message.blocks
    .flatMap((block) => block.text?.text ?? [])
    .filter((text) => text.includes("certwatch ack"));
}

describe("docs/samples", () => {
  it.each(["slack.json", "slack.zh-CN.json"])(
    "%s: each ack command names the alert's own source, as certwatch prints it",
    (file) => {
      const sections = ackSections(file);
      expect(sections.length).toBeGreaterThan(3);
      for (const text of sections) {
        const shown = /(?:source|来源) ([a-z0-9.-]+)/.exec(text)?.[1];
        const acked = /certwatch ack [a-z-]+:([a-z0-9.-]+)\//.exec(text)?.[1];
        expect(shown, text).toBeDefined();
        expect(acked, text).toBe(shown);
      }
    },
  );
});
