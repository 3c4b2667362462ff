import { describe, expect, it } from "vitest";
import { Seen } from "../lib/diff.js";
import { PackedObjects } from "../lib/model/packed-objects.js";
import type { Observation, StoredObject } from "../lib/model/types.js";
import { type Store, storedShape } from "../lib/store/store.js";
import { observation } from "./fixtures.js";
import { withEmbeddedStore } from "./harness.js";

const HOSTILE = 'a\nb\r\n"quoted" \\ </script> {"x":1} \u0000 \u2028 名前 🔒';

/** Every field an observation can have, with values that break naive packing. */
function everyField(nativeId: string): Observation {
  return storedShape({
    ...observation({ nativeId, name: HOSTILE, domains: ["a.example.com", "*.b.example.com", HOSTILE] }),
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2027-01-01T00:00:00.000Z",
    status: "revoked",
    rawStatus: "REVOKED\n",
    revokedAt: "2026-06-01T00:00:00.000Z",
    updatedAt: "2026-06-02T00:00:00.000Z",
    successor: { nativeId: "next", notAfter: "2028-01-01T00:00:00.000Z" },
    details: { jobId: "42", issuer: "ca-1", note: HOSTILE },
    labels: { source: "s", provider: "aliyun", account: "123", region: "cn-hangzhou" },
  });
}

function stored(o: Observation, state: Partial<StoredObject> = {}): StoredObject {
  return { observation: o, firstSeenAt: "t0", changedAt: "t1", alerts: {}, resolved: {}, ...state };
}

describe("packed objects", () => {
  let store: Store;
  withEmbeddedStore((opened) => (store = opened));

  it("unpack to what was packed, every field, hostile text and a 100 KB name included", () => {
    const objects = [
      stored(everyField("full"), {
        alerts: { expiry: { stage: "7d", episode: "e", severity: "warning", at: "t1", reminders: 2 } },
        resolved: { revocation: 3 },
        missingSince: "t2",
      }),
      stored(storedShape(observation({ nativeId: "bare", name: "x".repeat(100_000) }))),
      // An id that is not the key's tail, and one that is empty, are kept as they are.
      stored(storedShape({ ...observation({ nativeId: "id-1" }), key: "hw-test/certificate/other" })),
      stored(storedShape({ ...observation({ nativeId: "" }), key: "hw-test/certificate/empty" })),
      // A field the type does not name (a future collector's) is kept, not dropped.
      stored(
        storedShape({ ...observation({ nativeId: "extra" }), extra: { z: 1, a: [1, 2] } } as Observation),
      ),
    ];
    const packed = new PackedObjects();
    for (const object of objects) packed.pack(object);
    for (const object of objects) {
      const { alerts, resolved } = object;
      expect(packed.get(object.observation.key)).toEqual({
        ...object,
        alerts: Object.keys(alerts).length ? alerts : {},
        resolved: Object.keys(resolved ?? {}).length ? resolved : {},
      });
      expect(packed.holds(object.observation)).toBe(true);
    }
    expect(packed.isMissing(everyField("full").key)).toBe(true);
    expect(packed.isMissing(observation({ nativeId: "bare" }).key)).toBe(false);
    expect([...packed.keys()]).toEqual(objects.map((object) => object.observation.key));
  });

  it("keep a field that is not of its type as it is, apart from the table's numbers", () => {
    const odd = {
      ...observation({ nativeId: "odd" }),
      name: 7,
      revokedAt: 0,
      rawStatus: 1,
      domains: "not-a-list",
      details: "not-a-record",
      ["__proto__"]: "a field, not a prototype",
    } as unknown as Observation;
    const shaped = JSON.parse(JSON.stringify(odd)) as Observation;
    const packed = new PackedObjects();
    packed.pack(stored(shaped));
    const back = packed.get(shaped.key)?.observation;
    expect(back).toEqual(shaped);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(back, "__proto__")?.value).toBe("a field, not a prototype");
    expect(packed.holds(shaped)).toBe(true);
    // A list of names that is a record, its keys in another order, is the same record.
    const record = { ...shaped, domains: { b: 1, a: 2 } } as unknown as Observation;
    packed.pack(stored(record));
    expect(packed.holds({ ...record, domains: { a: 2, b: 1 } } as unknown as Observation)).toBe(true);
    packed.pack(stored(shaped));
    // The same values as strings are other values.
    expect(packed.holds({ ...shaped, name: "7" })).toBe(false);
    expect(packed.holds({ ...shaped, rawStatus: "t1" })).toBe(false);
  });

  it("hold an observation whatever the order of its fields, and tell any change", () => {
    const original = everyField("o");
    const packed = new PackedObjects();
    packed.pack(stored(original));
    const reordered = Object.fromEntries(Object.entries(original).reverse()) as unknown as Observation;
    reordered.details = Object.fromEntries(Object.entries(original.details ?? {}).reverse());
    reordered.labels = Object.fromEntries(Object.entries(original.labels).reverse()) as Observation["labels"];
    expect(packed.holds(reordered)).toBe(true);
    const changes: Partial<Observation>[] = [
      { name: `${HOSTILE}!` },
      { domains: ["*.b.example.com", "a.example.com", HOSTILE] },
      { notAfter: "2027-01-01T00:00:01.000Z" },
      { status: "active" },
      { details: { ...original.details, jobId: "43" } },
      { labels: { ...original.labels, region: "cn-beijing" } },
      { successor: { nativeId: "next", notAfter: "2028-01-02T00:00:00.000Z" } },
    ];
    for (const change of changes) expect(packed.holds({ ...original, ...change })).toBe(false);
    const { revokedAt: _dropped, ...withoutOne } = original;
    expect(packed.holds(withoutOne)).toBe(false);
  });

  it("hold what is set whole as it is, and its missing mark with it", () => {
    const packed = new PackedObjects();
    const object = stored(everyField("w"));
    packed.pack(object);
    const whole = { ...object, missingSince: "t3" };
    packed.set(object.observation.key, whole);
    expect(packed.get(object.observation.key)).toBe(whole);
    expect(packed.isMissing(object.observation.key)).toBe(true);
    const { missingSince: _back, ...present } = whole;
    packed.set(object.observation.key, present);
    expect(packed.isMissing(object.observation.key)).toBe(false);
    expect(packed.delete(object.observation.key)).toBe(true);
    expect(packed.get(object.observation.key)).toBeUndefined();
    expect(packed.size).toBe(0);
  });

  it("say whether an object of a kind may be held, packed or whole", () => {
    const packed = new PackedObjects();
    packed.pack(stored(storedShape(observation({ nativeId: "c" }))));
    expect(packed.mayHold("certificate")).toBe(true);
    expect(packed.mayHold("certificate-authority")).toBe(false);
    const authority = storedShape(observation({ nativeId: "ca", kind: "certificate-authority" }));
    packed.set(authority.key, stored(authority));
    expect(packed.mayHold("certificate-authority")).toBe(true);
    const seen = new Seen(packed);
    seen.add(authority);
    expect(seen.mayInclude("certificate-authority")).toBe(true);
    expect(seen.fresh.size).toBe(0);
  });

  it("let a sweep mark what it saw as stored, and hold whole only what differs; listed twice, the later stands", () => {
    const packed = new PackedObjects();
    const [a, b, c] = ["a", "b", "c"].map((id) => storedShape(observation({ nativeId: id })));
    for (const o of [a, b, c]) packed.pack(stored(o as Observation));
    const seen = new Seen(packed);
    const changedB = { ...(b as Observation), name: "renamed" };
    const d = storedShape(observation({ nativeId: "d" }));
    for (const o of [a, changedB, d]) seen.add(o as Observation);
    expect(seen.size).toBe(3);
    expect([...seen.fresh.keys()]).toEqual([changedB.key, d.key]);
    expect(seen.has((c as Observation).key)).toBe(false);
    // a listed again differently, then b listed again as stored.
    seen.add({ ...(a as Observation), name: "moved" });
    seen.add(b as Observation);
    expect(seen.size).toBe(3);
    expect([...seen.fresh.keys()].sort()).toEqual([(a as Observation).key, d.key].sort());
    expect([...seen.keys()].sort()).toEqual([a, b, d].map((o) => (o as Observation).key).sort());
  });

  it("load from the store as the whole map loads", async () => {
    const objects = [stored(everyField("s1"), { resolved: { expiry: 1 } }), stored(everyField("s2"))];
    await store.writeObjects("s", { changed: objects, gone: [], returned: [] }, new Date());
    const whole = await store.loadObjects("s");
    const packed = await store.loadPackedObjects("s");
    expect(new Map(packed)).toEqual(whole);
    for (const object of whole.values()) expect(packed.holds(object.observation)).toBe(true);
  });
});
