import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";

/** Another certwatch command holds the embedded store. */
export class StoreBusyError extends Error {
  constructor(path: string, pid?: number) {
    super(
      `the embedded store at ${path} is in use by another certwatch command${pid ? ` (pid ${pid})` : ""}; ` +
        "wait for it to finish, then run this one again",
    );
    this.name = "StoreBusyError";
  }
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One certwatch command at a time on an embedded store: LevelDB admits one process, and dynalite reports a second
 * one as an uncaught "Database is closed" deep inside a run. A lock file holding the holder's pid is taken before
 * the database opens; one left by a process that is gone is taken over. Returns the function that releases it.
 */
export async function lockStore(path: string): Promise<() => Promise<void>> {
  const file = join(path, "certwatch.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number((await readFile(file, "utf8").catch(() => "")).trim());
      if (isRunning(holder)) throw new StoreBusyError(path, holder);
      await rm(file, { force: true });
    }
  }
  throw new StoreBusyError(path);
}
