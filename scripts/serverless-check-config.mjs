/**
 * A local Serverless Framework plugin: `serverless package` and `deploy` refuse the certwatch config the functions
 * would load (the `configFile` param) when it is missing or invalid, before anything is built or uploaded, with the
 * messages of `certwatch validate --offline`. The check is lib/config/load.ts itself, bundled on the spot by
 * esbuild (which serverless-esbuild needs anyway), so it is always the schema the functions are built from and
 * nothing depends on a prior build. `${env:...}` and `${ssm:...}` are left for the functions to resolve.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import process from "node:process";
import { build } from "esbuild";

/** lib/config/load.ts as a CommonJS module, built from the checkout's source. */
async function loadChecker(serviceDir) {
  const dir = await mkdtemp(join(tmpdir(), "certwatch-check-config-"));
  try {
    const outfile = join(dir, "load.cjs");
    await build({
      entryPoints: [join(serviceDir, "lib/config/load.ts")],
      outfile,
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      logLevel: "silent",
    });
    return createRequire(import.meta.url)(outfile);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export default class CheckCertwatchConfig {
  constructor(serverless, _options, { log }) {
    this.serverless = serverless;
    this.log = log;
    const check = () => this.check();
    this.hooks = {
      "before:package:initialize": check,
      "before:deploy:function:packageFunction": check,
    };
  }

  async check() {
    // What the functions are told to read, from serverless.yml's environment (the configFile and configParameter
    // params), with the default lib/config/deployed.ts applies.
    const environment = this.serverless.service.provider.environment ?? {};
    const parameter = environment.CERTWATCH_CONFIG_PARAMETER;
    if (parameter) {
      this.log.notice(`certwatch config: read from SSM parameter ${parameter} at run time, not checked here`);
      return;
    }
    const file = relative(
      process.cwd(),
      resolve(this.serverless.serviceDir, environment.CERTWATCH_CONFIG || "certwatch.yml"),
    );
    const { checkConfigFile, ConfigError } = await loadChecker(this.serverless.serviceDir);
    try {
      await checkConfigFile(file);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const unreadable = error.problems.some((problem) => problem.startsWith("cannot read config"));
      const hint = unreadable
        ? '\n  bundle one with --param="configFile=FILE", or keep it in SSM with --param="configParameter=NAME"'
        : "";
      throw new this.serverless.classes.Error(`${error.message}${hint}`, "CERTWATCH_INVALID_CONFIG");
    }
    this.log.notice(`${file}: config is valid (schema only: references are resolved by the functions)`);
  }
}
