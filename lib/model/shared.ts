import type { AlertMark, Labels, Observation } from "./types.js";

/*
 * One copy of what repeats across a source's objects: the kind, status and labels of 100,000 certificates are a few
 * values, and the instants a sweep stamps on them one per sweep. Each parsed or unmarshalled object would otherwise
 * carry its own copy of each (about 300 bytes an object). Objects stay plain; only equal values become one.
 */

/** Longer strings are left as they are: a hostile 100 KB status must not be kept for the process's life. */
const LONGEST = 64;
/** Past this many values the table starts again (a long-lived process meets a new sweep instant every run). */
const MOST = 10_000;

const strings = new Map<string, string>();
const labelSets = new Map<string, Readonly<Labels>>();

function remember<T>(table: Map<string, T>, key: string, value: T): T {
  if (table.size >= MOST) table.clear();
  table.set(key, value);
  return value;
}

/** The one copy of a short string. */
export function shared<T extends string | undefined>(value: T): T {
  if (value === undefined || value.length > LONGEST) return value;
  return (strings.get(value) ?? remember(strings, value, value)) as T;
}

/** The observation, with its repeated values shared; labels become one frozen object per distinct set. */
export function sharedObservation(observation: Observation): Observation {
  const key = JSON.stringify(observation.labels);
  const labels = labelSets.get(key) ?? remember(labelSets, key, Object.freeze({ ...observation.labels }));
  return {
    ...observation,
    kind: shared(observation.kind),
    status: shared(observation.status),
    rawStatus: shared(observation.rawStatus),
    labels,
  };
}

/**
 * Loaded alert marks, their stage, severity and instant shared: a quarter of a big source alerts, each mark with its
 * own copy of a few values. The episode, one per object's life, is left as it is.
 */
export function sharedMarks(marks: Record<string, AlertMark>): Record<string, AlertMark> {
  for (const mark of Object.values(marks)) {
    mark.stage = shared(mark.stage);
    mark.severity = shared(mark.severity);
    mark.at = shared(mark.at);
  }
  return marks;
}
