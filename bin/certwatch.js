#!/usr/bin/env node
// The AWS SDK warns on every start that it will drop Node 20 next year; certwatch runs on 20 and 22 alike.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { main } = await import("../dist/lib/cli/main.js");
process.exitCode = await main(process.argv);
