import type { Digest } from "./digest.js";

/** A delivery that did not happen. Retryable ones stay pending for the next run; the rest are recorded as failed. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "DeliveryError";
  }
}

/** One channel. It renders and delivers, nothing else: claiming, retries across runs and marking live in deliver.ts. */
export interface Receiver {
  name: string;
  type: string;
  /** Most alerts one message can carry; larger digests are split, each part claimed and marked on its own. */
  maxAlertsPerMessage: number;
  /** Delivers or throws DeliveryError. */
  send(digest: Digest): Promise<void>;
  /** The message as text, for a dry run or the demo to show. */
  preview(digest: Digest): string;
  close(): Promise<void>;
}
