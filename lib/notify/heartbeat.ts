import { request } from "undici";

export interface HeartbeatResult {
  sent: boolean;
  error?: string;
}

/**
 * Pings a dead man's switch (healthchecks.io, Cronitor, ...) after a run that swept every source: when the pings
 * stop, that service pages someone, which covers the failures certwatch cannot report itself (it did not run).
 * The URL usually embeds a secret token, so no message repeats it.
 */
export async function sendHeartbeat(url: string, timeoutMs = 10_000): Promise<HeartbeatResult> {
  try {
    const response = await request(url, { method: "GET", signal: AbortSignal.timeout(timeoutMs) });
    await response.body.dump();
    if (response.statusCode >= 200 && response.statusCode < 300) return { sent: true };
    return { sent: false, error: `heartbeat refused: HTTP ${response.statusCode}` };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name;
    return { sent: false, error: `heartbeat not sent: ${code}` };
  }
}
