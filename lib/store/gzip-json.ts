import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** JSON text as the gzip the table stores (checkpoint chunks, news batches). */
export function packJson(json: string): Promise<Buffer> {
  return gzipAsync(json);
}

/** What a stored gzip JSON value holds, given its bytes whole or as the parts it was split into. */
export async function unpackJson<T>(packed: Uint8Array | Uint8Array[]): Promise<T> {
  const whole = Array.isArray(packed) ? Buffer.concat(packed) : packed;
  return JSON.parse((await gunzipAsync(whole)).toString("utf8")) as T;
}
