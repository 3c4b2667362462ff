import { describe, expect, it } from "vitest";
import { countByIssuer } from "../lib/store/issuers.js";
import type { Store } from "../lib/store/store.js";
import { observation } from "./fixtures.js";
import { withEmbeddedStore } from "./harness.js";

describe("the issuer index: how many certificates in force each CA issued, per source", () => {
  let store: Store;
  withEmbeddedStore((opened) => (store = opened));

  it("counts only certificates in force, by their issuer's id", () => {
    const issued = (nativeId: string, issuer: string, status: "active" | "revoked" | "expired" = "active") =>
      observation({ nativeId, kind: "client-certificate", status, details: { issuer } });
    const counts = countByIssuer([
      issued("a", "ca-1"),
      issued("b", "ca-1"),
      issued("c", "ca-1", "revoked"),
      issued("d", "ca-2", "expired"),
      observation({ nativeId: "e" }),
    ]);
    expect([...counts]).toEqual([["ca-1", 2]]);
  });

  it("sums the sources but the one asking, and forgets a CA whose last certificate is no longer in force", async () => {
    await store.issuers.update("pki-a", new Map(), new Map([["ca-x", 3]]));
    await store.issuers.update("pki-b", new Map(), new Map([["ca-x", 4]]));
    expect(await store.issuers.dependents("ca-x")).toBe(7);
    expect(await store.issuers.dependents("ca-x", "pki-a")).toBe(4);
    // Only what changed is written: an unchanged count costs nothing.
    const writes = store.usage.writeUnits;
    await store.issuers.update("pki-a", new Map([["ca-x", 3]]), new Map([["ca-x", 3]]));
    expect(store.usage.writeUnits).toBe(writes);
    await store.issuers.update("pki-a", new Map([["ca-x", 3]]), new Map());
    await store.issuers.update("pki-b", new Map([["ca-x", 4]]), new Map([["ca-x", 0]]));
    // None left anywhere: not "0 depend on it", but nothing known of it.
    expect(await store.issuers.dependents("ca-x")).toBeUndefined();
  });
});
