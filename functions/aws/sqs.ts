/**
 * What the handlers use of @aws-sdk/client-sqs, re-exported from an ES module of ours: the handlers `await import()`
 * this, not the SDK package, whose bundled CommonJS a split chunk would hand back as a bare `default`.
 */
export { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
