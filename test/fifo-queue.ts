import type { SendMessageBatchCommand } from "@aws-sdk/client-sqs";

export interface QueuedMessage {
  messageId: string;
  group: string;
  body: string;
}

/**
 * An in-process SQS FIFO queue: messages of one group are handed out one at a time and in order, as SQS does;
 * different groups go out in parallel.
 */
export class FifoQueue {
  private readonly waiting: QueuedMessage[] = [];
  private readonly busy = new Set<string>();
  private sequence = 0;

  /** Every group a message was sent to. */
  readonly groupsSeen = new Set<string>();

  push(message: QueuedMessage): void {
    this.groupsSeen.add(message.group);
    this.waiting.push(message);
  }

  take(): QueuedMessage | undefined {
    const index = this.waiting.findIndex((message) => !this.busy.has(message.group));
    if (index < 0) return undefined;
    const [message] = this.waiting.splice(index, 1);
    if (!message) return undefined;
    this.busy.add(message.group);
    return message;
  }

  done(message: QueuedMessage): void {
    this.busy.delete(message.group);
  }

  get empty(): boolean {
    return this.waiting.length === 0 && this.busy.size === 0;
  }

  /** What dispatch is given for SQS: `SendMessageBatch` into this queue. */
  get sqs() {
    return {
      send: async (command: SendMessageBatchCommand) => {
        for (const entry of command.input.Entries ?? []) {
          this.push({
            messageId: `m-${this.sequence++}`,
            group: entry.MessageGroupId ?? "",
            body: entry.MessageBody ?? "",
          });
        }
        return { Failed: [] };
      },
    };
  }
}
