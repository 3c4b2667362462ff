/**
 * What the handlers use of @aws-sdk/client-lambda, re-exported from an ES module of ours: the handlers `await import()`
 * this, not the SDK package, whose bundled CommonJS a split chunk would hand back as a bare `default`.
 */
export { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
