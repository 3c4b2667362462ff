/**
 * Vitest setup: every exchange a vendor simulator answers during a test file is held to
 * vendor-contracts.json, and the file fails at the end if any broke it.
 */
import { afterAll, expect } from "vitest";
import { observeExchanges } from "../../sim/server.js";
import { checkExchange, loadContracts } from "./check.js";

const contracts = loadContracts();
const violations = new Map<string, { count: number; firstTest?: string }>();
const exercised = new Set<string>();
let suspended = 0;

const stopObserving = observeExchanges((exchange) => {
  if (suspended > 0) return;
  const verdict = checkExchange(contracts, exchange);
  if (verdict.contract) exercised.add(verdict.contract);
  for (const violation of verdict.violations) {
    const seen = violations.get(violation);
    if (seen) seen.count++;
    else violations.set(violation, { count: 1, firstTest: expect.getState().currentTestName });
  }
});

/** Runs `fn` with contract checking off: for tests that send the simulators bad requests on purpose. */
export async function deliberately<T>(fn: () => Promise<T>): Promise<T> {
  suspended++;
  try {
    return await fn();
  } finally {
    suspended--;
  }
}

/** The keys of the contract entries this file's exchanges were matched to. */
export function exercisedContracts(): ReadonlySet<string> {
  return exercised;
}

/** The violations recorded so far, one line each, with how often and where first seen. */
export function contractViolations(): readonly string[] {
  return [...violations].map(
    ([violation, { count, firstTest }]) =>
      `${violation}${count > 1 ? ` (×${count})` : ""}${firstTest ? ` [first in: ${firstTest}]` : ""}`,
  );
}

afterAll(() => {
  stopObserving();
  expect(
    contractViolations(),
    "simulator exchanges that break the vendor contracts (vendor-contracts.json)",
  ).toEqual([]);
});
