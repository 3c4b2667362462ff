import { HttpClient, newCallStats } from "../sources/http.js";
import { driverFor } from "../sources/index.js";
import { loadForCli } from "./context.js";
import type { Output } from "./output.js";

/** Checks the config, then proves each source's endpoint and credentials with one cheap signed call. */
export async function validateCommand(options: { config: string }, output: Output): Promise<number> {
  const { config, redact } = await loadForCli(options.config);
  output.out(
    `${options.config}: config is valid (${config.sources.length} sources, ${config.receivers.length} receivers)`,
  );
  const http = new HttpClient();
  let failures = 0;
  try {
    const results = await Promise.all(
      config.sources.map(async (source) => {
        const driver = driverFor(source.type);
        const context = { http, stats: newCallStats(), previous: new Map(), warn: () => undefined, redact };
        try {
          return { source, ok: true, text: await driver.verify(source, context) };
        } catch (error) {
          return { source, ok: false, text: (error as Error).message };
        }
      }),
    );
    for (const result of results) {
      if (!result.ok) failures++;
      const status = result.ok ? "ok    " : "FAILED";
      output.out(redact(`  ${result.source.name.padEnd(16)} ${status} ${result.text}`));
    }
  } finally {
    await http.close();
  }
  for (const receiver of config.receivers) {
    output.out(`  ${receiver.name.padEnd(16)} config ok (${receiver.type}; not contacted)`);
  }
  if (failures > 0)
    output.err(`${failures} source(s) could not be reached with their credentials; see above`);
  return failures > 0 ? 1 : 0;
}
