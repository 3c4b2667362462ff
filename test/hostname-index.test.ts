import { describe, expect, it } from "vitest";
import { Store } from "../lib/store/store.js";
import { newerThanServed } from "../lib/cross-source.js";
import type { Observation } from "../lib/model/types.js";
import type { IndexedObject } from "../lib/store/hostnames.js";
import { observation } from "./fixtures.js";
import { withEmbeddedStore } from "./harness.js";

const entry: IndexedObject = {
  hostname: "shop.example.com",
  kind: "certificate",
  key: "hw/certificate/scs1",
  source: "hw",
  nativeId: "scs1",
  name: "shop",
  status: "active",
};

describe("the hostname index: inventory certificates by the names they cover, kept as sweeps write", () => {
  let store: Store;
  withEmbeddedStore((opened) => (store = opened));

  const names = async (hostname: string) =>
    (await store.hostnames.covering(hostname)).map((entry) => `${entry.hostname} ${entry.nativeId}`).sort();

  it("finds a certificate by an exact name and by the wildcard one label up, never two labels up", async () => {
    const exact = observation({ nativeId: "www", domains: ["WWW.shop.example.com", "shop.example.com"] });
    const wildcard = observation({ nativeId: "wild", domains: ["*.shop.example.com"] });
    await store.hostnames.update([{ after: exact }, { after: wildcard }]);
    expect(await names("www.shop.example.com")).toEqual([
      "*.shop.example.com wild",
      "www.shop.example.com www",
    ]);
    expect(await names("shop.example.com")).toEqual(["shop.example.com www"]);
    expect(await names("a.b.shop.example.com")).toEqual([]);
    // A name listed with its root's trailing dot is the same name.
    await store.hostnames.update([
      { after: observation({ nativeId: "dot", domains: ["Dot.Example.com."] }) },
    ]);
    expect(await names("dot.example.com")).toEqual(["dot.example.com dot"]);
    // A single-label name has no wildcard above it worth asking for.
    expect(await names("localhost")).toEqual([]);
  });

  it("a renewal rewrites the entry, a dropped name and a gone certificate leave it, a quiet sweep writes nothing", async () => {
    const before = observation({ nativeId: "api", domains: ["api.example.com", "old.example.com"] });
    await store.hostnames.update([{ after: before }]);
    const renewed = { ...before, domains: ["api.example.com"], notAfter: "2027-12-01T00:00:00.000Z" };
    await store.hostnames.update([{ before, after: renewed }]);
    expect((await store.hostnames.covering("api.example.com"))[0]?.notAfter).toBe("2027-12-01T00:00:00.000Z");
    expect(await names("old.example.com")).toEqual([]);

    const writes = store.usage.writeUnits;
    await store.hostnames.update([
      { before: renewed, after: { ...renewed, rawStatus: "changed, not indexed" } },
    ]);
    expect(store.usage.writeUnits).toBe(writes);

    await store.hostnames.update([{ before: renewed }]);
    expect(await names("api.example.com")).toEqual([]);
  });

  it("indexes inventory certificates and deployments: client certificates, CAs and endpoints serve no hostname", async () => {
    const on = (nativeId: string, kind: Observation["kind"]) =>
      observation({ nativeId, kind, domains: ["kinds.example.com"], details: { jobId: "8000" } });
    await store.hostnames.update(
      (
        ["client-certificate", "certificate-authority", "endpoint", "deployment-task", "certificate"] as const
      ).map((kind) => ({ after: on(kind, kind) })),
    );
    const found = await store.hostnames.covering("kinds.example.com");
    expect(found.map((entry) => [entry.kind, entry.nativeId]).sort()).toEqual([
      ["certificate", "certificate"],
      ["deployment-task", "deployment-task"],
    ]);
    expect(found.find((entry) => entry.kind === "deployment-task")?.jobId).toBe("8000");
  });

  it("an inventory certificate ending within a day of the served one is that one, read in another zone", () => {
    const endpoint = observation({
      nativeId: "shop:443",
      kind: "endpoint",
      notAfter: "2027-03-01T00:00:00.000Z",
    });
    const held = (notAfter: string) => ({
      newest: { ...entry, notAfter },
      knowsServed: true,
      deployments: [],
    });
    // SCM's zone-less expire_time read as UTC instead of China time: 8 hours later, the same certificate.
    expect(newerThanServed(endpoint, held("2027-03-01T08:00:00.000Z"))).toBeUndefined();
    expect(newerThanServed(endpoint, held("2027-03-03T00:00:00.000Z"))?.notAfter).toBe(
      "2027-03-03T00:00:00.000Z",
    );
  });
});
