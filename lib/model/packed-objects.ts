import { isDeepStrictEqual } from "node:util";
import { shared, sharedMarks } from "./shared.js";
import { type Labels, NO_STATE, type ObjectKind, type Observation, type StoredObject } from "./types.js";

/*
 * A source's objects as one sweep holds them. A steady sweep of 100,000 certificates changes a few and judges a
 * quarter: the rest are each held as one string, the observation first and in a fixed order, so that a listed
 * observation is compared with it as it is, and an object is unpacked only where it is read (and let go after).
 * What the sweep sets (new, changed, judged) is held whole, as given.
 */

/**
 * An observation's fields in packed order. `key` is the map's, and `nativeId` its tail where it is one (as its length);
 * `labels`, `kind`, `status` and `rawStatus`, repeated across objects, are numbers in the table's lists.
 */
const FIELDS = [
  "kind",
  "nativeId",
  "name",
  "domains",
  "notBefore",
  "notAfter",
  "status",
  "rawStatus",
  "revokedAt",
  "updatedAt",
  "successor",
  "details",
] as const;
const REPEATED = new Set<string>(["kind", "status", "rawStatus"]);
const KNOWN = new Set<string>(["key", "labels", ...FIELDS]);
/** Repeated values are numbered from 1, and a field not of its type is kept apart: 0 stands for one absent. */
const ABSENT = 0;
/** A packed object is `[observation, state]`: `[` then the observation, then this, starts it. */
const COMMA = 44;

const SEEN = 1;
const MISSING = 2;

/** An object's keys in order, so that two equal records pack the same whatever order they were built in. */
function sorted(record: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function isRecord(value: unknown): value is object {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function ofItsType(field: (typeof FIELDS)[number], value: unknown): boolean {
  if (field === "domains") return Array.isArray(value);
  if (field === "successor" || field === "details") return isRecord(value);
  return typeof value === "string";
}

function canonical(value: unknown): unknown {
  return isRecord(value) ? sorted(value) : value;
}

export class PackedObjects implements ReadonlyMap<string, StoredObject> {
  private readonly slots = new Map<string, number>();
  private readonly held: (string | StoredObject | undefined)[] = [];
  private flags = new Uint8Array(1024);
  private readonly labelSets: Labels[] = [];
  private readonly labelIds = new Map<string, number>();
  private readonly labelIdOf = new WeakMap<Labels, number>();
  /** Values repeated across objects (kinds, statuses, the instants sweeps stamp), each once. */
  private readonly repeated: string[] = [];
  private readonly repeatedIds = new Map<string, number>();
  /** Every kind of object ever held, packed or whole. */
  private readonly kinds = new Set<unknown>();

  get size(): number {
    return this.slots.size;
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  get(key: string): StoredObject | undefined {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : this.whole(key, slot);
  }

  /** Holds `object` whole: what the sweep changed or judged is read again. */
  set(key: string, object: StoredObject): this {
    this.place(key, object, object.observation, object.missingSince !== undefined);
    return this;
  }

  /** Holds `object` packed: what was loaded, and is read again only if it is judged, changed or missing. */
  pack(object: StoredObject): void {
    const { observation, firstSeenAt, changedAt, alerts, resolved, missingSince } = object;
    const empty = (state: object | undefined) => !state || Object.keys(state).length === 0;
    const state = [
      this.repeatedId(firstSeenAt, true),
      this.repeatedId(changedAt, true),
      empty(alerts) ? ABSENT : alerts,
      empty(resolved) ? ABSENT : resolved,
      missingSince ?? ABSENT,
    ];
    // JSON.stringify builds a long string from parts it joins: copied through bytes, it is held as one flat string.
    const packed = Buffer.from(JSON.stringify([this.observationFields(observation, true), state])).toString();
    this.place(observation.key, packed, observation, missingSince !== undefined);
  }

  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.held[slot] = undefined;
    this.slots.delete(key);
    return true;
  }

  /** Whether what is held for the observation's key has this observation (as `storedShape` makes it), unpacking nothing. */
  holds(observation: Observation): boolean {
    const slot = this.slots.get(observation.key);
    if (slot === undefined) return false;
    const held = this.held[slot] as string | StoredObject;
    if (typeof held !== "string") return isDeepStrictEqual(held.observation, observation);
    const fields = this.observationFields(observation, false);
    if (fields === undefined) return false;
    // A JSON array ends where it ends: a packed object that starts with this one, then a comma, holds this one.
    const packed = JSON.stringify(fields);
    return held.charCodeAt(packed.length + 1) === COMMA && held.startsWith(packed, 1);
  }

  /** Whether an object of this kind may be held: false says for certain that none is. */
  mayHold(kind: ObjectKind): boolean {
    return this.kinds.has(kind);
  }

  /** Marks the object seen by this sweep's listing; true when it was not yet. */
  markSeen(key: string): boolean {
    return this.flag(key, SEEN, true);
  }

  /** Takes the mark back (the object was listed again, differently); true when it had one. */
  unmarkSeen(key: string): boolean {
    return this.flag(key, SEEN, false);
  }

  wasSeen(key: string): boolean {
    const slot = this.slots.get(key);
    return slot !== undefined && ((this.flags[slot] as number) & SEEN) !== 0;
  }

  /** Whether the object is held as missing from an earlier listing, unpacking nothing. */
  isMissing(key: string): boolean {
    const slot = this.slots.get(key);
    return slot !== undefined && ((this.flags[slot] as number) & MISSING) !== 0;
  }

  keys(): MapIterator<string> {
    return this.slots.keys();
  }

  *entries(): MapIterator<[string, StoredObject]> {
    for (const [key, slot] of this.slots) yield [key, this.whole(key, slot)];
  }

  *values(): MapIterator<StoredObject> {
    for (const [key, slot] of this.slots) yield this.whole(key, slot);
  }

  [Symbol.iterator](): MapIterator<[string, StoredObject]> {
    return this.entries();
  }

  forEach(
    callback: (value: StoredObject, key: string, map: ReadonlyMap<string, StoredObject>) => void,
  ): void {
    for (const [key, object] of this.entries()) callback(object, key, this);
  }

  private place(key: string, held: string | StoredObject, observation: Observation, missing: boolean): void {
    this.kinds.add(observation.kind);
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.held.push(held) - 1;
      this.slots.set(key, slot);
      if (slot >= this.flags.length) {
        const grown = new Uint8Array(this.flags.length * 2);
        grown.set(this.flags);
        this.flags = grown;
      }
    } else {
      this.held[slot] = held;
    }
    const flags = this.flags[slot] as number;
    this.flags[slot] = missing ? flags | MISSING : flags & ~MISSING;
  }

  private flag(key: string, flag: number, on: boolean): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    const flags = this.flags[slot] as number;
    const had = (flags & flag) !== 0;
    this.flags[slot] = on ? flags | flag : flags & ~flag;
    return had !== on;
  }

  /**
   * The observation's fields as packed; undefined when a repeated value is one no held object has (`add` false: it
   * cannot be held, then).
   */
  private observationFields(observation: Observation, add: boolean): unknown[] | undefined {
    const labels = this.labelId(observation.labels, add);
    if (labels === undefined) return undefined;
    const fields: unknown[] = [labels];
    // A field not of its type (a number where a name should be, written by hand say) is kept apart, as it is: a
    // number in a field's place is a table's number or an id's length.
    const extra: [string, unknown][] = [];
    for (const field of FIELDS) {
      const value = observation[field];
      if (value === undefined || !ofItsType(field, value)) {
        fields.push(ABSENT);
        if (value !== undefined) extra.push([field, value]);
      } else if (REPEATED.has(field)) {
        const id = this.repeatedId(value as string, add);
        if (id === undefined) return undefined;
        fields.push(id);
      } else if (field === "nativeId" && value !== "" && observation.key.endsWith(value as string)) {
        fields.push((value as string).length);
      } else {
        fields.push(canonical(value));
      }
    }
    for (const field of Object.keys(observation)) {
      if (!KNOWN.has(field)) extra.push([field, observation[field as keyof Observation]]);
    }
    const canonicalExtra = extra.map(([field, value]): [string, unknown] => [field, canonical(value)]);
    fields.push(extra.length === 0 ? ABSENT : sorted(Object.fromEntries(canonicalExtra)));
    return fields;
  }

  private labelId(labels: Labels, add: boolean): number | undefined {
    const known = this.labelIdOf.get(labels);
    if (known !== undefined) return known;
    const text = JSON.stringify(sorted(labels));
    let id = this.labelIds.get(text);
    if (id === undefined) {
      if (!add) return undefined;
      id = this.labelSets.push(Object.freeze({ ...labels })) - 1;
      this.labelIds.set(text, id);
    }
    if (Object.isFrozen(labels)) this.labelIdOf.set(labels, id);
    return id;
  }

  private repeatedId(value: string, add: true): number;
  private repeatedId(value: string, add: boolean): number | undefined;
  private repeatedId(value: string, add: boolean): number | undefined {
    let id = this.repeatedIds.get(value);
    if (id === undefined && add) {
      id = this.repeated.push(value);
      this.repeatedIds.set(value, id);
    }
    return id;
  }

  private whole(key: string, slot: number): StoredObject {
    const held = this.held[slot] as string | StoredObject;
    return typeof held === "string" ? this.unpack(key, held) : held;
  }

  private unpack(key: string, packed: string): StoredObject {
    const [[labels, ...fields], [firstSeen, changed, alerts, resolved, missingSince]] = JSON.parse(
      packed,
    ) as [
      [number, ...unknown[]],
      [
        number,
        number,
        StoredObject["alerts"] | typeof ABSENT,
        StoredObject["resolved"] | typeof ABSENT,
        string | typeof ABSENT,
      ],
    ];
    const entries: [string, unknown][] = [["key", key]];
    FIELDS.forEach((field, index) => {
      const value = fields[index];
      if (value === ABSENT) return;
      if (typeof value !== "number") entries.push([field, value]);
      else if (REPEATED.has(field)) entries.push([field, this.repeated[value - 1]]);
      else entries.push([field, key.slice(key.length - value)]);
    });
    const extra = fields[FIELDS.length];
    if (extra !== ABSENT) entries.push(...Object.entries(extra as object));
    // Made from entries, each its own property: a field named `__proto__` stays a field.
    const observation = Object.fromEntries(entries);
    observation.labels = this.labelSets[labels];
    return {
      observation: observation as unknown as Observation,
      firstSeenAt: this.repeated[firstSeen - 1] as string,
      changedAt: this.repeated[changed - 1] as string,
      alerts: alerts === ABSENT ? NO_STATE : sharedMarks(alerts),
      resolved: resolved === ABSENT ? NO_STATE : resolved,
      ...(missingSince === ABSENT ? {} : { missingSince: shared(missingSince) }),
    };
  }
}
