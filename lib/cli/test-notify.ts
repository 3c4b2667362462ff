import { createReceiver } from "../notify/index.js";
import { DeliveryError } from "../notify/receiver.js";
import { loadForCli, UsageError } from "./context.js";
import type { Output } from "./output.js";

/** Sends one clearly labelled test message through one receiver and says exactly what happened. */
export async function testNotifyCommand(
  options: { config: string; receiver: string },
  output: Output,
): Promise<number> {
  const { config, redact } = await loadForCli(options.config);
  const settings = config.receivers.find((receiver) => receiver.name === options.receiver);
  if (!settings) {
    const known = config.receivers.map((receiver) => receiver.name).join(", ") || "none configured";
    throw new UsageError(`--receiver: no receiver named ${options.receiver} (receivers: ${known})`);
  }
  const receiver = createReceiver(settings);
  try {
    await receiver.send({ alerts: [], generatedAt: new Date().toISOString(), test: true });
    output.out(`${receiver.name} (${receiver.type}): test message delivered`);
    return 0;
  } catch (error) {
    const reason =
      error instanceof DeliveryError ? error.message : `unexpected error: ${(error as Error).message}`;
    // A test message is not kept for another run as alerts are: say what to do now instead.
    const next =
      error instanceof DeliveryError && error.retryable
        ? "This may pass (busy, rate limited or out of reach): run test-notify again shortly; if it keeps " +
          "failing, check the receiver's address and that this machine can reach it."
        : `Fix the receiver's settings in ${options.config}, then run test-notify again.`;
    output.err(redact(`${receiver.name} (${receiver.type}): test message NOT delivered: ${reason}. ${next}`));
    return 1;
  } finally {
    await receiver.close();
  }
}
