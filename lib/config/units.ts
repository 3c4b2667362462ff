import type { WrittenSource } from "./schema.js";

/**
 * One sweep: a configured source at one of its endpoints. It is reported and stored under its own `name`: the
 * source's name for its first endpoint, `<name>.<n>` for the n-th after it. `configuredName` is the name in the
 * config.
 */
export type SweepUnit<S = WrittenSource> = S extends unknown
  ? UnitOf<S> & {
      endpoint: string;
      configuredName: string;
      /** The organization member this unit sweeps (`accounts`), once expanded at run time (lib/sources/accounts.ts). */
      account?: MemberAccount;
      /** Set when the unit cannot be swept at all (its organization could not be listed): it fails with this. */
      unitError?: string;
      /** An organization's discovery unit (lib/organizations.ts): it holds no objects, only the discovery's health. */
      discovery?: { members: number; notes: string[] };
      /** A member unit of an account confirmed gone from its organization: its objects resolve as gone, with this. */
      leftOrganization?: string;
    }
  : never;

/**
 * What a unit keeps of its source: all but the sites it is split by. A tls-endpoints source's `endpoints` are the
 * hosts it probes, all in its one unit, so it keeps them.
 */
type UnitOf<S> = S extends { type: "tls-endpoints" }
  ? Omit<S, "endpoint"> & NoCloudApi
  : Omit<S, "endpoint" | "endpoints">;

/**
 * A tls-endpoints unit calls no cloud API: it has no credentials, call budget or page cap. Said so in its type, so that
 * code reading those off any unit (secrets, call scopes) finds them empty rather than missing.
 */
interface NoCloudApi {
  credentials: { accessKey?: undefined; secretKey?: undefined; securityToken?: undefined };
  qps?: undefined;
  maxPages?: undefined;
}

/** One member of an organization, as discovery found it. */
export interface MemberAccount {
  id: string;
  name: string;
}

/** Whether a unit stands for a whole organization that must be expanded at run time before it is swept. */
export function expandsAtRunTime(unit: { accounts?: unknown; account?: MemberAccount }): boolean {
  return unit.accounts !== undefined && unit.account === undefined;
}

/**
 * A member account's unit of an organization's endpoint unit: `<name>.<accountId>`, and `.<n>` after it for the n-th
 * endpoint, labelled with the account's id and name so that routes can match them.
 */
export function accountUnit<
  U extends { name: string; configuredName: string; labels?: Record<string, string> },
>(unit: U, account: MemberAccount): U & { account: MemberAccount } {
  const endpointSuffix = unit.name.slice(unit.configuredName.length);
  return {
    ...unit,
    name: `${unit.configuredName}.${account.id}${endpointSuffix}`,
    account,
    labels: { ...unit.labels, account: account.id, accountName: account.name },
  };
}

/** A source's sweep units, one per endpoint, each labelled with its endpoint's region when the config gives one. */
export function sweepUnits(source: WrittenSource): SweepUnit[] {
  if (source.type === "tls-endpoints") {
    // One unit for all its hosts. Its `endpoint` only names the unit's place, and stays put whatever hosts are
    // added or removed, so that its stored endpoints are never handed to another unit (see endpointMoved).
    return [{ ...source, credentials: {}, configuredName: source.name, endpoint: `tls://${source.name}` }];
  }
  const { endpoint, endpoints, ...rest } = source;
  const entries = endpoints ?? (endpoint === undefined ? [] : [endpoint]);
  return entries.map((entry, index) => {
    const { url, region } = typeof entry === "string" ? { url: entry, region: undefined } : entry;
    return {
      ...rest,
      ...(region === undefined ? {} : { region }),
      // The first endpoint keeps the source's name, so that adding a site later renames nothing: a renamed unit
      // would leave its stored inventory and open alerts behind and announce everything again as new.
      name: index === 0 ? source.name : `${source.name}.${index + 1}`,
      configuredName: source.name,
      endpoint: url,
    } as SweepUnit;
  });
}

/**
 * The configured unit a stored unit name belongs to: the unit of that name, or the organization endpoint unit whose
 * member units are named `<name>.<accountId>[.<n>]` (account ids hold no dots), for its per-source settings.
 */
export function configuredUnitOf<U extends { name: string; configuredName: string; accounts?: unknown }>(
  units: readonly U[],
  name: string,
): U | undefined {
  return (
    units.find((unit) => unit.name === name) ??
    units.find((unit) => {
      if (unit.accounts === undefined || !name.startsWith(`${unit.configuredName}.`)) return false;
      const endpointSuffix = unit.name.slice(unit.configuredName.length);
      if (!name.endsWith(endpointSuffix)) return false;
      const accountId = name.slice(unit.configuredName.length + 1, name.length - endpointSuffix.length);
      return /^[A-Za-z0-9_-]+$/.test(accountId);
    })
  );
}

/** Whether `--source` names pick this unit: by its own name, or by its source's name for every one of its units. */
export function isNamed(unit: { name: string; configuredName: string }, names: readonly string[]): boolean {
  return names.includes(unit.name) || names.includes(unit.configuredName);
}

/** An endpoint as a place: host (with port) and path, without the case or the trailing slash that do not matter. */
export function placeOf(endpoint: string): string {
  const url = new URL(endpoint);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`.toLowerCase();
}

/**
 * A unit's stored inventory belongs to the endpoint it was swept at. Reordering or removing a source's `endpoints`
 * would hand that inventory to another site's listing: everything of one site "gone", everything of the other "new".
 * That sweep is refused instead, saying why, until the configuration gives the unit its endpoint back.
 */
export function endpointMoved(source: SweepUnit, held: string | undefined): string | undefined {
  if (held === undefined || placeOf(held) === placeOf(source.endpoint)) return undefined;
  return (
    `${source.name} holds the inventory of ${held}, but the config now gives it ${source.endpoint}: nothing was ` +
    "swept or changed. If the endpoints of the source were reordered or one was removed, put them back in their " +
    "order (add new ones at the end). If this is a new site or account, give it a source of its own."
  );
}
