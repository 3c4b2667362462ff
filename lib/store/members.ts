import { DeleteCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { TableClient } from "./client.js";
import { keys } from "./table.js";

/**
 * A member of an organization as its discoveries found it. A member a complete listing lacks is first only
 * `missingSince`; a second complete listing without it confirms it `leftAt`, and its units are retired (their objects
 * resolved as gone) until nothing of it is left, when the record goes too.
 */
export interface MemberRecord {
  id: string;
  name: string;
  firstSeenAt: string;
  missingSince?: string;
  /** The run that found it missing: only another run's listing confirms that it left. */
  missingRun?: string;
  leftAt?: string;
}

/**
 * Each organization's members as last discovered: how units that are not swept in a run (by notify's watch, the
 * report, the heartbeat) are known, and how a member that leaves is noticed. One item per member, written only when
 * it changes.
 */
export class Members {
  constructor(private readonly table: TableClient) {}

  async list(organization: string): Promise<Map<string, MemberRecord>> {
    const members = new Map<string, MemberRecord>();
    for await (const item of this.table.queryPrefix(keys.organization(organization), "")) {
      const { id, name, firstSeenAt, missingSince, missingRun, leftAt } = item as unknown as MemberRecord;
      members.set(id, {
        id,
        name,
        firstSeenAt,
        ...(missingSince ? { missingSince } : {}),
        ...(missingRun ? { missingRun } : {}),
        ...(leftAt ? { leftAt } : {}),
      });
    }
    return members;
  }

  async get(organization: string, id: string): Promise<MemberRecord | undefined> {
    const item = await this.table.get({ pk: keys.organization(organization), sk: id }, true);
    return item ? (item as unknown as MemberRecord) : undefined;
  }

  async put(organization: string, member: MemberRecord): Promise<void> {
    await this.table.write(
      new PutCommand({
        TableName: this.table.name,
        Item: { pk: keys.organization(organization), sk: member.id, ...member },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  async remove(organization: string, id: string): Promise<void> {
    await this.table.write(
      new DeleteCommand({
        TableName: this.table.name,
        Key: { pk: keys.organization(organization), sk: id },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }
}
