import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Holds every simulator exchange to the vendors' contracts (../shared/reference/vendor-contracts.json).
    setupFiles: ["test/contract/setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The AWS SDK warns that it will drop Node 20 in 2027; certwatch is tested on 20 and deployed on 22.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", POWERTOOLS_METRICS_DISABLED: "true" },
  },
});
