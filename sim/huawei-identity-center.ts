import { DAY_MS } from "../lib/model/time.js";
import { type HuaweiAuthOptions, huaweiError as error, requestId, verifyHuaweiAuth } from "./huawei-auth.js";
import {
  type FaultOptions,
  type SimAnswer,
  type SimRequest,
  SimServer,
  seededRandom,
  TokenBucket,
} from "./server.js";
import { makeCertificate, makeKey } from "./tls-site.js";

/** A certificate as ListApplicationInstanceCertificates returns it. */
export interface IdentityCenterCertificate {
  certificate_id: string;
  algorithm: string;
  key_size: string;
  /** ms epoch */
  issue_date: number;
  /** ms epoch */
  expiry_date: number;
  status: string;
  certificate: string;
}

export interface IdentityCenterApplication {
  application_instance_id: string;
  name: string;
  status: string;
  certificates: IdentityCenterCertificate[];
}

export interface IdentityCenterFleet {
  instanceId: string;
  applications: IdentityCenterApplication[];
}

/** The rotation case, an active certificate expiring with no replacement, one far from expiry, one expired. */
export type ApplicationKind = "rotation" | "expiring" | "healthy" | "expired";

/** Repeats a certificates listing forever: the same next_marker, or the same page under ever new markers. */
export type MarkerLoop = "same-marker" | "same-page";

export interface IdentityCenterSimulatorOptions extends FaultOptions, HuaweiAuthOptions {
  fleet: IdentityCenterFleet;
  /** At most this many entries a page, whatever `limit` asks (the service may return fewer than `limit`). */
  pageSize?: number;
  /** Calls per second per access key before APIGW answers 429 APIGW.0308. */
  qps?: number;
  markerLoop?: MarkerLoop;
}

export type IdentityCenterSim = SimServer & {
  /** Every request that passed authentication and throttling (queued faults answer before), in order. */
  requests: URL[];
  /** Set to make every certificates listing loop; undefined to stop. */
  markerLoop: MarkerLoop | undefined;
  /** Set to answer every call as to a caller that is neither the management account nor a delegated administrator. */
  denyAccess: boolean;
};

/** limit is 1 to 100, 100 when absent: what ListInstances documents; the certificate page says nothing. */
const MAX_LIMIT = 100;

/**
 * Markers are opaque 24-character strings, the length ListInstances documents: here the base64url of the
 * zero-padded offset of the page they start.
 */
function encodeMarker(offset: number): string {
  return Buffer.from(String(offset).padStart(18, "0")).toString("base64url");
}

function decodeMarker(marker: string): number | undefined {
  const text = Buffer.from(marker, "base64url").toString("utf8");
  return /^\d{18}$/.test(text) ? Number(text) : undefined;
}

// Identity Center's documented codes (huawei.identitycenter.* errors); the 500 fault's is the simulator's own.
const badRequest = (message: string) => error(400, "IIC.400", message);
const notFound = (message: string) => error(404, "IIC.404", message);
const throttled = () => error(429, "APIGW.0308", "The throttling threshold has been reached");

/**
 * IIC.1000, no permission for the action, with the request id in the body and the header, and the denial explained
 * in an encoded authorization message (`huawei._common.rest`): here the base64 of what was asked.
 */
function accessDenied(request: SimRequest): SimAnswer {
  const id = requestId();
  const explanation = { allowed: false, method: request.method, path: request.url.pathname, requestId: id };
  return {
    status: 403,
    body: {
      error_code: "IIC.1000",
      error_msg: "No permission for the action",
      request_id: id,
      encoded_authorization_message: Buffer.from(JSON.stringify(explanation)).toString("base64"),
    },
    headers: { "X-Request-Id": id },
  };
}

interface Page<T> {
  entries: T[];
  page_info: { next_marker: string | null; current_count: number };
}

function paginate<T>(items: T[], url: URL, pageSize: number): Page<T> | SimAnswer {
  const limitText = url.searchParams.get("limit");
  const limit = limitText === null ? MAX_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    return badRequest(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
  const marker = url.searchParams.get("marker");
  const offset = marker === null ? 0 : decodeMarker(marker);
  if (offset === undefined || offset > items.length) return badRequest("marker is invalid");
  const entries = items.slice(offset, offset + Math.min(limit, pageSize));
  const end = offset + entries.length;
  return {
    entries,
    page_info: { next_marker: end < items.length ? encodeMarker(end) : null, current_count: entries.length },
  };
}

/**
 * Huawei IAM Identity Center's `ListApplicationInstances` and `ListApplicationInstanceCertificates` for one
 * instance: limit/marker paging, AK/SK or token authentication, 404 for an unknown instance or application
 * instance, the gateway's 429 `APIGW.0308` when over `qps`, and marker loops on demand.
 */
export function identityCenterSimulator(options: IdentityCenterSimulatorOptions): IdentityCenterSim {
  const bucket = options.qps ? new TokenBucket(options.qps) : undefined;
  const pageSize = options.pageSize ?? MAX_LIMIT;
  let loopCount = 0;

  const certificates = (application: IdentityCenterApplication, url: URL): SimAnswer => {
    const pageUrl = new URL(url);
    // Serving the same page again means ignoring the marker, however it was made.
    if (sim.markerLoop === "same-page") pageUrl.searchParams.delete("marker");
    const page = paginate(application.certificates, pageUrl, pageSize);
    if ("status" in page) return page;
    if (sim.markerLoop === "same-marker") page.page_info.next_marker = encodeMarker(0);
    if (sim.markerLoop === "same-page") page.page_info.next_marker = encodeMarker(1e9 + ++loopCount);
    return {
      status: 200,
      body: { application_instance_certificates: page.entries, page_info: page.page_info },
    };
  };

  const handle = (request: SimRequest): SimAnswer => {
    let segments: string[];
    try {
      segments = request.url.pathname.split("/").slice(1).map(decodeURIComponent);
    } catch {
      return badRequest("the path is not validly encoded");
    }
    const [version, instances, instanceId, collection, applicationId, leaf, ...rest] = segments;
    const routed =
      request.method === "GET" &&
      version === "v1" &&
      instances === "instances" &&
      collection === "application-instances" &&
      rest.length === 0 &&
      (applicationId === undefined || leaf === "certificates");
    if (!routed)
      return error(404, "APIGW.0101", "The API does not exist or has not been published in the environment");
    const denied = verifyHuaweiAuth(request, options);
    if (denied) return denied;
    if (bucket && !bucket.take()) return throttled();
    if (sim.denyAccess) return accessDenied(request);
    sim.requests.push(request.url);
    if (instanceId !== options.fleet.instanceId) return notFound(`instance ${instanceId} does not exist`);

    if (applicationId === undefined) {
      const page = paginate(options.fleet.applications, request.url, pageSize);
      if ("status" in page) return page;
      const applicationInstances = page.entries.map(({ certificates, ...application }) => ({
        ...application,
        active_certificate: certificates.find((certificate) => certificate.status === "ACTIVE") ?? null,
      }));
      return {
        status: 200,
        body: { application_instances: applicationInstances, page_info: page.page_info },
      };
    }
    const application = options.fleet.applications.find((a) => a.application_instance_id === applicationId);
    if (!application) return notFound(`application instance ${applicationId} does not exist`);
    return certificates(application, request.url);
  };

  const sim: IdentityCenterSim = Object.assign(
    new SimServer(
      handle,
      (fault) => {
        if (fault === "throttle") return throttled();
        if (fault === "malformed") {
          return {
            status: 200,
            body: {
              application_instances: "not-a-list",
              application_instance_certificates: "not-a-list",
              page_info: { next_marker: null, current_count: 0 },
            },
          };
        }
        return error(500, "IIC.500", "Internal server error");
      },
      options,
      "huawei.identitycenter",
    ),
    { requests: [] as URL[], markerLoop: options.markerLoop, denyAccess: false },
  );
  return sim;
}

export interface IdentityCenterFleetOptions {
  applications: number;
  /** One ACTIVE certificate and the rest INACTIVE; the rotation case needs at least 2. */
  certificatesPerApplication: number;
  now: Date;
  seed?: number;
}

const KINDS: ApplicationKind[] = ["rotation", "expiring", "healthy", "expired", "healthy"];

/** Which case an application of `identityCenterFleet` was built as, from its index. */
export function applicationKind(index: number): ApplicationKind {
  return KINDS[index % KINDS.length] as ApplicationKind;
}

/**
 * A plausible Identity Center around `now`, deterministic for a seed. Applications cycle through the kinds:
 * rotation (the active certificate expires within 30 days and the newest inactive one a year later), expiring
 * (the same, but every inactive one is older), healthy, and expired. Older inactive certificates expired long ago.
 */
export function identityCenterFleet(options: IdentityCenterFleetOptions): IdentityCenterFleet {
  const random = seededRandom(options.seed ?? 42);
  const now = options.now.getTime();
  const hex = (length: number) =>
    Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join("");
  // Real PEMs, for the content checks to read; one EC key signs them all, quickly enough for the benchmark's fleet.
  const key = makeKey("ec");
  const certificate = (status: string, expiry: number): IdentityCenterCertificate => {
    const issued = Math.round(expiry - 365 * DAY_MS);
    return {
      certificate_id: `cer-${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`,
      algorithm: "SHA256withECDSA",
      key_size: "256",
      issue_date: issued,
      expiry_date: Math.round(expiry),
      status,
      certificate: makeCertificate({
        // Forty draws, as the placeholder PEM this replaced took: seeded fleets keep their ids and expiries.
        commonName: `SAML signing ${hex(40)}`,
        notBefore: new Date(issued),
        notAfter: new Date(Math.round(expiry)),
        key,
      }).pem,
    };
  };

  const applications = Array.from({ length: options.applications }, (_, index) => {
    const n = String(index + 1).padStart(4, "0");
    const kind = applicationKind(index);
    const daysLeft = {
      rotation: 0.5 + random() * 29,
      expiring: 0.5 + random() * 29,
      healthy: 31 + random() * 330,
      expired: -1 - random() * 60,
    }[kind];
    const activeExpiry = now + daysLeft * DAY_MS;
    const older = Math.max(0, options.certificatesPerApplication - 1);
    // A year apart, closer when there are many, so that the oldest still expired after 1970 (not a negative epoch).
    const step = Math.min(365, (40 * 365) / Math.max(1, older));
    const inactive = Array.from({ length: older }, (_, k) => {
      const successor = kind === "rotation" && k === 0;
      return certificate("INACTIVE", activeExpiry + (successor ? 365 : -step * (k + 1)) * DAY_MS);
    });
    return {
      application_instance_id: `app-ins-${n}`,
      name: `saml-app-${n}`,
      status: "ENABLED",
      certificates: [certificate("ACTIVE", activeExpiry), ...inactive],
    };
  });
  return { instanceId: "ins-0123456789abcdef", applications };
}
