import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import { lockStore } from "./lock.js";
import { Store } from "./store.js";

export interface OpenedStore {
  store: Store;
  /** True when certwatch runs the database itself and must purge expired history. */
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * Opens the configured store. A dry run never creates anything: over an embedded store that does not exist yet
 * it reads from an empty in-memory one.
 */
export async function openStore(
  settings: Config["store"],
  options: { dryRun: boolean; redact?: (text: string) => string },
): Promise<OpenedStore> {
  if (settings.type === "dynamodb") {
    const store = new Store({
      table: settings.table,
      region: settings.region,
      endpoint: settings.endpoint,
      historyDays: settings.historyDays,
      redact: options.redact,
    });
    try {
      await store.checkAccess();
    } catch (error) {
      store.close();
      throw error;
    }
    return { store, embedded: false, close: async () => store.close() };
  }
  const onDisk = !options.dryRun || existsSync(join(settings.path, "CURRENT"));
  if (onDisk) await mkdir(settings.path, { recursive: true });
  const unlock = onDisk ? await lockStore(settings.path) : async () => undefined;
  // Loaded on demand so that Lambda bundles never carry dynalite and its LevelDB binaries.
  const { startEmbeddedDynamo } = await import("./embedded.js");
  const dynamo = await startEmbeddedDynamo(onDisk ? settings.path : undefined);
  const store = new Store({
    table: settings.table,
    endpoint: dynamo.endpoint,
    historyDays: settings.historyDays,
    redact: options.redact,
  });
  try {
    await store.ensureTable();
  } catch (error) {
    store.close();
    await dynamo.close();
    await unlock();
    throw new Error(
      `cannot open the embedded store at ${settings.path} (${(error as Error).message}); ` +
        "is another certwatch command using it?",
      { cause: error },
    );
  }
  return {
    store,
    embedded: true,
    close: async () => {
      store.close();
      await dynamo.close();
      await unlock();
    },
  };
}
