/**
 * An esbuild plugin for serverless-esbuild (custom.esbuild.plugins in serverless.yml): each function's zip carries
 * its own chunks only.
 *
 * serverless-esbuild builds every function into the same folder and zips that folder whole, but for the other
 * handler files, so each zip would carry the chunks of all three functions. After a function's build, this moves
 * the chunks it wrote under `__only_<function>/`, which serverless-esbuild puts in that function's zip alone, with
 * the prefix removed: the handler still finds them at `./chunks/`. The builds must run one at a time
 * (`concurrency: 1`), since two of them can write a chunk of the same name. The function is named after its
 * handler file (functions/dispatch.ts is `dispatch`), as in serverless.yml.
 */
import { mkdirSync, renameSync } from "node:fs";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import process from "node:process";

export default [
  {
    name: "certwatch-chunks-per-function",
    setup(build) {
      const { entryPoints, outdir, absWorkingDir } = build.initialOptions;
      const entry = Array.isArray(entryPoints) && entryPoints.length === 1 ? entryPoints[0] : undefined;
      if (typeof entry !== "string" || !outdir) {
        throw new Error("certwatch-chunks-per-function: expected one entry point and an outdir per build");
      }
      build.initialOptions.metafile = true;
      const name = basename(entry, extname(entry));
      const entryDir = dirname(entry);
      const buildDir =
        entryDir === "." ? outdir : resolve(outdir, ...entryDir.split(/[\\/]/).map(() => ".."));
      build.onEnd((result) => {
        if (result.errors.length > 0 || !result.metafile) return;
        for (const [output, meta] of Object.entries(result.metafile.outputs)) {
          const file = resolve(absWorkingDir ?? process.cwd(), output);
          if (
            meta.entryPoint &&
            resolve(absWorkingDir ?? process.cwd(), meta.entryPoint) === resolve(entry)
          ) {
            continue;
          }
          const inBuild = relative(buildDir, file);
          if (inBuild.startsWith("..") || inBuild.startsWith("__only_")) continue;
          const target = join(buildDir, `__only_${name}`, inBuild);
          mkdirSync(dirname(target), { recursive: true });
          renameSync(file, target);
        }
      });
    },
  },
];
