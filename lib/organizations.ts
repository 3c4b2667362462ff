import type { SourceConfig } from "./config/schema.js";
import { accountUnit, expandsAtRunTime, type MemberAccount } from "./config/units.js";
import { oneLine } from "./model/text.js";
import { earlierRunProblem } from "./run-order.js";
import { accountSelected, type DiscoveryIo, discoverAccounts } from "./sources/accounts.js";
import type { Store } from "./store/store.js";
import type { MemberRecord } from "./store/members.js";

/*
 * Organizations at run time. A source with `accounts` is expanded, where a run starts (the CLI's runSweep, the Lambda
 * dispatch), into:
 * - one unit per member and endpoint, `<name>.<accountId>[.<n>]`, swept with the member's own role;
 * - one discovery unit named as the source, which holds no objects: it carries the discovery's health (an organization
 *   that cannot be listed fails it, and it resolves once the listing works again) and what changed in membership;
 * - one retiring unit per endpoint of a member confirmed gone from the organization, whose objects resolve as gone.
 * A member a listing lacks is first only missing (not swept, its objects kept as last seen), as any object is: the
 * next complete listing without it confirms it left.
 */

/** What a discovery unit reports: how many members were found, and each change of membership worth a line. */
export interface DiscoveryNews {
  members: number;
  notes: string[];
}

/** At most this many membership notes travel with a discovery unit (a queue message has a size limit). */
const MAX_NOTES = 20;

export interface ExpansionIo extends DiscoveryIo {
  /** Where members are recorded between runs; without it (a test of discovery alone) nothing is remembered. */
  store?: Store;
  now?: Date;
  /** A dry run reads what was recorded and records nothing. */
  dryRun?: boolean;
  /** The run discovering: two listings of one run (a dispatch retried) confirm nothing. */
  runId?: string;
  /** Whether this run records an organization's changes of membership (it sweeps its discovery unit); yes if absent. */
  recordsMembers?: (organization: string) => boolean;
}

function describe(member: { id: string; name: string }): string {
  const name = oneLine(member.name);
  return name === member.id ? `account ${member.id}` : `account ${member.id} (${name})`;
}

interface Reconciled {
  /** Members gone from the organization whose units still hold objects: they are retired in this run. */
  leaving: MemberRecord[];
  notes: string[];
}

/**
 * Compares a complete discovery with the members recorded before and records what changed. A member a listing lacks
 * is missing; a second listing without it confirms that it left (or was excluded), and its units are retired until
 * their last sweep holds nothing, after which its record is dropped.
 */
async function reconcileMembers(
  unit: SourceConfig,
  discovered: MemberAccount[],
  io: ExpansionIo,
  unitNames: (account: MemberAccount) => string[],
): Promise<Reconciled> {
  const { store } = io;
  if (!store) return { leaving: [], notes: [] };
  const organization = unit.configuredName;
  const now = io.now ?? new Date();
  const at = now.toISOString();
  // A run earlier than one already recorded is refused (lib/run-order.ts): it must not change membership either,
  // or a refused run would make the next real one take a member as gone.
  const readOnly =
    io.dryRun === true ||
    io.recordsMembers?.(organization) === false ||
    earlierRunProblem(organization, await store.lastSweep(organization), now) !== undefined;
  const record = async (member: MemberRecord) => {
    if (!readOnly) await store.members.put(organization, member);
  };
  const known = await store.members.list(organization);
  const notes: string[] = [];
  const leaving: MemberRecord[] = [];
  const listed = new Set<string>();
  for (const account of discovered) {
    listed.add(account.id);
    const before = known.get(account.id);
    if (!before) {
      await record({ id: account.id, name: account.name, firstSeenAt: at });
      if (known.size > 0) notes.push(`${describe(account)} joined: swept from this run on`);
    } else if (before.name !== account.name || before.missingSince || before.leftAt) {
      await record({ id: account.id, name: account.name, firstSeenAt: before.firstSeenAt });
      if (before.missingSince || before.leftAt)
        notes.push(`${describe(account)} is listed again: swept again`);
    }
  }
  for (const member of known.values()) {
    if (listed.has(member.id)) continue;
    if (!member.missingSince) {
      await record({ ...member, missingSince: at, ...(io.runId ? { missingRun: io.runId } : {}) });
      notes.push(
        `${describe(member)} is not in the organization's listing (or no longer selected): not swept, its ` +
          "certificates are kept as last seen; if the next listing lacks it too, it is taken as gone and they resolve",
      );
      continue;
    }
    if (!member.leftAt && io.runId !== undefined && member.missingRun === io.runId) continue;
    if (!member.leftAt) {
      if (readOnly) continue;
      await record({ ...member, leftAt: at });
      leaving.push({ ...member, leftAt: at });
      notes.push(
        `${describe(member)} left the organization (absent from two listings since ${member.missingSince}): its ` +
          "certificates resolve as gone",
      );
      continue;
    }
    const lastSweeps = await Promise.all(unitNames(member).map((name) => store.lastSweep(name)));
    const retired = lastSweeps.every(
      (last) => last === undefined || (last.ok && last.objects === 0 && last.at >= (member.leftAt ?? "")),
    );
    if (retired) {
      if (!readOnly) await store.members.remove(organization, member.id);
    } else {
      leaving.push(member);
    }
  }
  return { leaving, notes };
}

/**
 * The units a run sweeps: every unit as configured, except that an organization becomes its discovery unit, one unit
 * per member and endpoint, and a retiring unit per endpoint of each member confirmed gone. An organization that cannot
 * be listed becomes only its discovery unit, failed, so that nothing of any member is taken as missing and the failure
 * adds up to a "cannot see" alert.
 */
export async function expandAccounts(units: SourceConfig[], io: ExpansionIo): Promise<SourceConfig[]> {
  const organizations = new Map<string, Promise<MemberAccount[] | Error>>();
  for (const unit of units) {
    if (!expandsAtRunTime(unit) || organizations.has(unit.configuredName)) continue;
    organizations.set(
      unit.configuredName,
      discoverAccounts(unit, io).catch((error: unknown) => error as Error),
    );
  }
  const expanded: SourceConfig[] = [];
  const reconciled = new Map<string, Reconciled>();
  for (const unit of units) {
    const discovered = organizations.get(unit.configuredName);
    if (!expandsAtRunTime(unit) || !discovered) {
      expanded.push(unit);
      continue;
    }
    const endpointUnits = units.filter((other) => other.configuredName === unit.configuredName);
    const first = endpointUnits[0] === unit;
    const members = await discovered;
    if (members instanceof Error) {
      if (!first) continue;
      const reason = (io.redact ?? String)(
        `the organization's accounts could not be listed: ${members.message}`,
      );
      expanded.push({ ...unit, name: unit.configuredName, unitError: reason } as SourceConfig);
      continue;
    }
    if (first) {
      const unitNames = (account: MemberAccount) =>
        endpointUnits.map((endpointUnit) => accountUnit(endpointUnit, account).name);
      const news = await reconcileMembers(unit, members, io, unitNames);
      reconciled.set(unit.configuredName, news);
      const notes =
        news.notes.length > MAX_NOTES
          ? [
              ...news.notes.slice(0, MAX_NOTES),
              `and ${news.notes.length - MAX_NOTES} more changes of membership`,
            ]
          : news.notes;
      const discovery: DiscoveryNews = { members: members.length, notes };
      expanded.push({ ...unit, name: unit.configuredName, discovery } as SourceConfig);
    }
    for (const account of members) expanded.push(accountUnit(unit, account) as SourceConfig);
    for (const member of reconciled.get(unit.configuredName)?.leaving ?? []) {
      const leftOrganization = `${describe(member)} left the organization (confirmed ${member.leftAt})`;
      expanded.push({ ...accountUnit(unit, member), leftOrganization } as SourceConfig);
    }
  }
  return expanded;
}

/** What a queue message says of the unit it names, beyond its name. */
export interface UnitRequest {
  source: string;
  account?: MemberAccount;
  unitError?: string;
  discovery?: DiscoveryNews;
  leftOrganization?: string;
}

/** The fields of an expanded unit a queue message carries, so that the worker need not discover again. */
export function unitRequest(unit: SourceConfig): UnitRequest {
  return {
    source: unit.name,
    ...(unit.account ? { account: unit.account } : {}),
    ...(unit.unitError === undefined ? {} : { unitError: unit.unitError }),
    ...(unit.discovery ? { discovery: unit.discovery } : {}),
    ...(unit.leftOrganization === undefined ? {} : { leftOrganization: unit.leftOrganization }),
  };
}

/**
 * The unit a queue message names, resolved without discovering again: a configured unit by its name, an
 * organization's member unit from the account the message carries (provided the config still selects it, unless it
 * is being retired), or an organization's discovery unit.
 */
export function resolveUnit(units: readonly SourceConfig[], request: UnitRequest): SourceConfig | undefined {
  if (request.account) {
    const { account } = request;
    for (const unit of units) {
      if (!expandsAtRunTime(unit) || !("accounts" in unit) || !unit.accounts) continue;
      const member = accountUnit(unit, account) as SourceConfig;
      if (member.name !== request.source) continue;
      if (request.leftOrganization !== undefined) {
        return { ...member, leftOrganization: request.leftOrganization } as SourceConfig;
      }
      return accountSelected(account, unit.accounts) ? member : undefined;
    }
    return undefined;
  }
  const unit = units.find((candidate) => candidate.name === request.source);
  if (!unit) return undefined;
  if (request.unitError !== undefined) return { ...unit, unitError: request.unitError } as SourceConfig;
  if (request.discovery && expandsAtRunTime(unit))
    return { ...unit, discovery: request.discovery } as SourceConfig;
  // An organization's own unit is never swept with the organization's keys as if it were an account.
  return expandsAtRunTime(unit) ? undefined : unit;
}

/**
 * Every unit the store knows of, for what looks at units without sweeping them (notify's watch and heartbeat, the
 * report, history): configured units as they are, and for each organization its discovery unit and a unit per
 * recorded member and endpoint (a member confirmed gone is no longer watched).
 */
export async function knownUnits(units: readonly SourceConfig[], store: Store): Promise<SourceConfig[]> {
  const known: SourceConfig[] = [];
  const rosters = new Map<string, Promise<Map<string, MemberRecord>>>();
  for (const unit of units) {
    if (!expandsAtRunTime(unit)) {
      known.push(unit);
      continue;
    }
    let roster = rosters.get(unit.configuredName);
    if (!roster) {
      roster = store.members.list(unit.configuredName);
      rosters.set(unit.configuredName, roster);
      const members = [...(await roster).values()].filter((member) => !member.leftAt).length;
      known.push({ ...unit, name: unit.configuredName, discovery: { members, notes: [] } } as SourceConfig);
    }
    for (const member of (await roster).values()) {
      if (!member.leftAt) known.push(accountUnit(unit, member) as SourceConfig);
    }
  }
  return known;
}

/**
 * Whether a retiring unit's member is still recorded as gone from its organization: a retiring message delivered
 * late (a redrive from the dead-letter queue) must not resolve the objects of a member that has come back.
 */
export async function stillLeft(unit: SourceConfig, store: Store): Promise<boolean> {
  if (!unit.account) return false;
  return (await store.members.get(unit.configuredName, unit.account.id))?.leftAt !== undefined;
}
