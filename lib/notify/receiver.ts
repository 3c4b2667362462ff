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

/** How long an answer's body may take once its status is in. */
const BODY_GRACE_MS = 2_000;

/**
 * An answer's body, or undefined when it stalls past a short grace or breaks off (`stop` then ends the download).
 * A 2xx status has delivered the message whatever its body does next; sending it again would post it twice.
 */
export async function bodyOrNothing(text: Promise<string>, stop: () => void): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      stop();
      resolve(undefined);
    }, BODY_GRACE_MS);
  });
  try {
    return await Promise.race([text.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
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
  /** The message as a person reads it (the text part, the fallback, the markdown), for a dry run or the demo. */
  preview(digest: Digest): string;
  /** The exact body `send` would deliver (before any signing), for `--json` and `--verbose` dry runs. */
  payload(digest: Digest): string;
  close(): Promise<void>;
}
