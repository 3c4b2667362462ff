import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Exchange, type SimAnswer, type SimRequest, SimServer } from "../sim/server.js";
import { checkExchange, loadContracts } from "./contract/check.js";
import { contractViolations, deliberately, exercisedContracts } from "./contract/setup.js";

const contracts = loadContracts();

interface Planted {
  method?: string;
  headers?: SimRequest["headers"];
  body?: string;
  status?: number;
  answer?: unknown;
  deliberate?: boolean;
}

function exchange(service: string, pathAndQuery: string, planted: Planted = {}): Exchange {
  return {
    service,
    request: {
      method: planted.method ?? "GET",
      url: new URL(pathAndQuery, "http://sim.local"),
      headers: planted.headers ?? {},
      body: planted.body ?? "",
    },
    answer: { status: planted.status ?? 200, body: planted.answer ?? {} },
    deliberate: planted.deliberate ?? false,
  };
}

/** An Alibaba call signed the current way (V3): action and version in x-acs-* headers, parameters in the query. */
function cas(action: string, version: string, query: string, planted: Planted = {}): Exchange {
  return exchange("aliyun.cas", `/?${query}`, {
    method: "POST",
    ...planted,
    headers: {
      host: "cas.aliyuncs.com",
      "x-acs-action": action,
      "x-acs-version": version,
      "x-acs-date": "2026-11-22T08:01:02Z",
      "x-acs-signature-nonce": "4b1c0f3e",
      "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      authorization: "ACS3-HMAC-SHA256 Credential=LTAI...,SignedHeaders=host;x-acs-action,Signature=00",
      ...planted.headers,
    },
  });
}

function huawei(service: string, pathAndQuery: string, planted: Planted = {}): Exchange {
  return exchange(service, pathAndQuery, {
    ...planted,
    headers: {
      host: "scm.ap-southeast-1.myhuaweicloud.com",
      "x-sdk-date": "20261122T080102Z",
      "x-domain-id": "0a1b2c3d",
      authorization: "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-domain-id;x-sdk-date, Signature=00",
      ...planted.headers,
    },
  });
}

const violationsOf = (e: Exchange) => checkExchange(contracts, e).violations;

const clientCertificate = {
  Id: 12321,
  Identifier: "d3b95700998e47afc4d95f8865790001",
  ParentIdentifier: "160ae6bb538d538c70c01f81dcf20001",
  CommonName: "device-17.example.com",
  CertificateType: "CLIENT",
  Algorithm: "RSA",
  KeySize: 2048,
  SignAlgorithm: "SHA256WITHRSA",
  Status: "ISSUE",
  BeforeDate: 1763769600000,
  AfterDate: 1795305600000,
  Days: 365,
  Sans: '[{"Type":2,"Value":"device-17.example.com"}]',
  SerialNumber: "62b2b943a32d96883a6650e672ea0276",
  SubjectDN: "C=CN,O=Example,CN=device-17.example.com",
  Organization: "Example",
  CountryCode: "CN",
  ResourceGroupId: null,
};

const scmCertificate = {
  id: "scs1700000000001",
  name: "shop-example-com",
  domain: "shop.example.com",
  sans: "shop.example.com;www.shop.example.com",
  signature_algorithm: "SHA256WITHRSA",
  deploy_support: true,
  type: "OV_SSL_CERT",
  brand: "GLOBALSIGN",
  expire_time: "2027-01-15 08:00:00.0",
  domain_type: "MULTI_DOMAIN",
  validity_period: 12,
  status: "ISSUED",
  domain_count: 2,
  wildcard_count: 0,
  description: "",
  domain_id: "0a1b2c3d",
  enterprise_project_id: "0",
};

const icPath = "/v1/instances/ins-1/application-instances/app-1/certificates";

describe("contract checker: clean exchanges", () => {
  it("passes an Alibaba V3 ListClientCertificate under 2020-06-30", () => {
    const verdict = checkExchange(
      contracts,
      cas("ListClientCertificate", "2020-06-30", "CurrentPage=1&ShowSize=50", {
        answer: {
          RequestId: "15C66C7B-671A-4297-9187-2C4477247A74",
          CertificateList: [clientCertificate],
          TotalCount: 1,
          CurrentPage: 1,
          ShowSize: 50,
          PageCount: 1,
        },
      }),
    );
    expect(verdict).toEqual({ contract: "aliyun.cas.ListClientCertificate", violations: [] });
  });

  it("tells ListCert of the certificate warehouse (2020-04-07) from ListCert of the private CA (2020-06-30)", () => {
    const warehouse = checkExchange(
      contracts,
      cas("ListCert", "2020-04-07", "CurrentPage=1&ShowSize=50&CertType=CERT", {
        answer: {
          RequestId: "r1",
          CertList: [{ Identifier: "14dcc8afc7578e", CertType: "CERT", SourceType: "aliyun", WhId: 2 }],
          TotalCount: 1,
          CurrentPage: 1,
          ShowSize: 50,
        },
      }),
    );
    expect(warehouse).toEqual({ contract: "aliyun.cas.ListCert@2020-04-07", violations: [] });

    const privateCa = checkExchange(
      contracts,
      cas("ListCert", "2020-06-30", "CurrentPage=1&ShowSize=50&Type=CLIENT", {
        answer: { RequestId: "r2", List: [{ Identifier: "a1", AfterTime: 1795305600000 }], TotalCount: 1 },
      }),
    );
    expect(privateCa).toEqual({ contract: "aliyun.cas.ListCert", violations: [] });
  });

  it("accepts the legacy V1 signature's common parameters in the query", () => {
    const query =
      "AccessKeyId=LTAI5t&Action=ListClientCertificate&CurrentPage=1&Format=json&ShowSize=20" +
      "&Signature=abc%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=1a2b&SignatureVersion=1.0" +
      "&Timestamp=2026-11-22T08%3A01%3A02Z&Version=2020-06-30";
    const verdict = checkExchange(contracts, exchange("aliyun.cas", `/?${query}`, { method: "POST" }));
    expect(verdict).toEqual({ contract: "aliyun.cas.ListClientCertificate", violations: [] });
  });

  it("passes a Huawei SCM ListCertificates sorted by expiry", () => {
    const verdict = checkExchange(
      contracts,
      huawei("huawei.scm", "/v3/scm/certificates?limit=50&offset=0&sort_key=certExpiredTime&sort_dir=ASC", {
        answer: { certificates: [scmCertificate], total_count: 1 },
      }),
    );
    expect(verdict).toEqual({ contract: "huawei.scm.ListCertificates", violations: [] });
  });

  it("passes an Identity Center certificates listing with a page_info", () => {
    const verdict = checkExchange(
      contracts,
      huawei("huawei.identitycenter", `${icPath}?limit=20&marker=bWFya2VyOjIw`, {
        answer: {
          application_instance_certificates: [
            {
              algorithm: "SHA256withRSA",
              certificate: "-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----",
              certificate_id: "cert-1",
              expiry_date: 1795305600000,
              status: "ACTIVE",
              key_size: "3072",
              issue_date: 1763769600000,
            },
          ],
          page_info: { next_marker: null, current_count: 1 },
        },
      }),
    );
    expect(verdict).toEqual({
      contract: "huawei.identitycenter.ListApplicationInstanceCertificates",
      violations: [],
    });
  });

  it("tells IAM's two securitytokens calls apart by their body", () => {
    const credential = {
      access: "AK",
      secret: "SK",
      securitytoken: "tok",
      expires_at: "2026-11-22T09:01:02Z",
    };
    const post = (auth: unknown) =>
      checkExchange(
        contracts,
        huawei("huawei.iam", "/v3.0/OS-CREDENTIAL/securitytokens", {
          method: "POST",
          body: JSON.stringify({ auth }),
          status: 201,
          answer: { credential },
        }),
      );
    const assumeRole = { agency_name: "certwatch", domain_name: "acme", duration_seconds: 900 };
    expect(post({ identity: { methods: ["assume_role"], assume_role: assumeRole } })).toEqual({
      contract: "huawei.iam.CreateTemporaryAccessKeyByAgency",
      violations: [],
    });
    expect(post({ identity: { methods: ["token"], token: { duration_seconds: 900 } } })).toEqual({
      contract: "huawei.iam.CreateTemporaryAccessKeyByToken",
      violations: [],
    });
  });

  it("passes a documented error body", () => {
    const answer = { RequestId: "r", HostId: "cas.aliyuncs.com", Code: "Throttling.User", Message: "denied" };
    expect(violationsOf(cas("ListClientCertificate", "2020-06-30", "", { status: 400, answer }))).toEqual([]);
    const huaweiError = { error_code: "SCM.0002", error_msg: "bad limit" };
    expect(
      violationsOf(huawei("huawei.scm", "/v3/scm/certificates", { status: 400, answer: huaweiError })),
    ).toEqual([]);
  });

  it("leaves alone services the contract does not know", () => {
    expect(
      checkExchange(contracts, exchange("slack.webhook", "/services/T/B/X", { answer: { ok: 1 } })),
    ).toEqual({
      violations: [],
    });
  });
});

describe("contract checker: violations", () => {
  it("says where it looked for the contracts, and how to point elsewhere", () => {
    expect(() => loadContracts("/nowhere/vendor-contracts.json")).toThrow(
      /looked for at \/nowhere\/vendor-contracts\.json .*set CERTWATCH_VENDOR_CONTRACTS/,
    );
  });

  it("reports a parameter the call does not take", () => {
    expect(violationsOf(cas("ListClientCertificate", "2020-06-30", "ShowSize=20&PageSize=20"))).toEqual([
      "aliyun.cas ListClientCertificate: query parameter PageSize is not in the contract",
    ]);
  });

  it("reports an action sent under the wrong version", () => {
    expect(checkExchange(contracts, cas("ListClientCertificate", "2020-04-07", "ShowSize=20"))).toEqual({
      violations: [
        "aliyun.cas ListClientCertificate: sent under version 2020-04-07; the contract says 2020-06-30",
      ],
    });
    expect(violationsOf(cas("ListCert", "2019-01-01", ""))).toEqual([
      "aliyun.cas ListCert: sent under version 2019-01-01; the contract says 2020-06-30 or 2020-04-07",
    ]);
  });

  it("reports an action the contract does not have", () => {
    expect(violationsOf(cas("ListEverything", "2020-06-30", ""))).toEqual([
      "aliyun.cas ListEverything: no such action in the contract",
    ]);
  });

  it("reports a value outside the enum, in a request and in a response", () => {
    expect(violationsOf(cas("ListUserCertificateOrder", "2020-04-07", "OrderType=EXPIRED"))).toEqual([
      "aliyun.cas ListUserCertificateOrder: query parameter OrderType is 'EXPIRED'; the contract allows CPACK, BUY, UPLOAD, CERT",
    ]);
    expect(
      violationsOf(
        cas("ListClientCertificate", "2020-06-30", "", {
          answer: { CertificateList: [{ ...clientCertificate, Status: "REVOKED" }] },
        }),
      ),
    ).toEqual([
      "aliyun.cas ListClientCertificate: response field CertificateList[].Status is 'REVOKED'; the contract allows ISSUE, REVOKE",
    ]);
    expect(violationsOf(huawei("huawei.scm", "/v3/scm/certificates?limit=100"))).toEqual([
      "huawei.scm ListCertificates: query parameter limit is '100'; the contract allows 10, 20, 50",
    ]);
  });

  it("reports a non-integer where the contract takes an integer", () => {
    expect(violationsOf(cas("ListClientCertificate", "2020-06-30", "CurrentPage=1&ShowSize=twenty"))).toEqual(
      ["aliyun.cas ListClientCertificate: query parameter ShowSize is 'twenty'; the contract says integer"],
    );
    expect(violationsOf(huawei("huawei.scm", "/v3/scm/certificates?offset=1.5"))).toEqual([
      "huawei.scm ListCertificates: query parameter offset is '1.5'; the contract says integer",
    ]);
  });

  it("reports a missing required parameter", () => {
    expect(violationsOf(cas("DescribeClientCertificateStatus", "2020-06-30", ""))).toEqual([
      "aliyun.cas DescribeClientCertificateStatus: required query parameter Identifier is missing",
    ]);
  });

  it("reports a space sent as '+' in an Alibaba query", () => {
    expect(violationsOf(cas("ListCertificates", "2020-04-07", "Keyword=shop+example"))).toEqual([
      "aliyun.cas ListCertificates: the query sends a space as '+'; the vendor signs %20",
    ]);
    expect(violationsOf(cas("ListCertificates", "2020-04-07", "Keyword=shop%20example"))).toEqual([]);
  });

  it("reports invented response fields, at the top and inside list items", () => {
    expect(
      violationsOf(
        cas("ListClientCertificate", "2020-06-30", "", {
          answer: { RequestId: "r", NextPage: 2, CertificateList: [{ ...clientCertificate, NotAfter: 1 }] },
        }),
      ),
    ).toEqual([
      "aliyun.cas ListClientCertificate: response field NextPage is not in the contract",
      "aliyun.cas ListClientCertificate: response field CertificateList[].NotAfter is not in the contract",
    ]);
  });

  it("reports a field of the wrong type", () => {
    expect(
      violationsOf(
        huawei("huawei.scm", "/v3/scm/certificates", { answer: { certificates: "none", total_count: 0 } }),
      ),
    ).toEqual([
      "huawei.scm ListCertificates: response field certificates is a string ('none'); the contract says array<object>",
    ]);
  });

  it("reports an error body field the vendor does not send", () => {
    const answer = { RequestId: "r", Code: "InvalidAction.NotFound", Message: "no", HttpStatus: 404 };
    expect(violationsOf(cas("ListClientCertificate", "2020-06-30", "", { status: 404, answer }))).toEqual([
      "aliyun.cas ListClientCertificate: error body field HttpStatus is not one the vendor sends " +
        "(RequestId, HostId, Code, Message, Recommend, AccessDeniedDetail, Detail, Description)",
    ]);
  });

  it("reports X-Project-Id sent to Identity Center, a global service", () => {
    expect(
      violationsOf(
        huawei("huawei.identitycenter", icPath, { headers: { "x-project-id": "p-1", "x-domain-id": "" } }),
      ),
    ).toEqual([
      "huawei.identitycenter ListApplicationInstanceCertificates: sent header X-Project-Id; " +
        "the contract takes GlobalCredentials only (X-Domain-Id)",
    ]);
  });

  it("reports a Huawei path no call has", () => {
    expect(checkExchange(contracts, huawei("huawei.scm", "/v3/scm/certificate-list"))).toEqual({
      violations: [
        "huawei.scm GET /v3/scm/certificate-list: no call in the contract has this method and path",
      ],
    });
  });
});

describe("contract checker: what it leaves alone", () => {
  it("leaves a deliberate answer (a fault or a scripted one) unchecked, but not the request that met it", () => {
    const fault = huawei("huawei.scm", "/v3/scm/certificates", {
      answer: { certificates: "not-a-list", total_count: "many" },
      deliberate: true,
    });
    expect(violationsOf(fault)).toEqual([]);
    const wrongRequest = huawei("huawei.scm", "/v3/scm/certificates?limit=25", {
      answer: { certificates: "not-a-list" },
      deliberate: true,
    });
    expect(violationsOf(wrongRequest)).toEqual([
      "huawei.scm ListCertificates: query parameter limit is '25'; the contract allows 10, 20, 50",
    ]);
  });

  it("reports parameters in an Alibaba body, a parameter sent twice, and text where the contract has a number", () => {
    const body = cas("ListCertificates", "2020-04-07", "CurrentPage=1", {
      body: "CertificateStatus=EXPIRED",
    });
    expect(violationsOf(body)).toEqual([
      "aliyun.cas ListCertificates: the request has a body; the contract's parameters all travel in the query",
    ]);
    const twice = cas("ListCertificates", "2020-04-07", "CertificateStatus=issued&CertificateStatus=expired");
    expect(violationsOf(twice)).toEqual([
      "aliyun.cas ListCertificates: query parameter CertificateStatus is sent more than once",
    ]);
    const text = cas("ListCertificates", "2020-04-07", "CurrentPage=1", {
      answer: {
        RequestId: "r",
        TotalCount: "many",
        CertificateList: [{ CertificateId: "1", NotAfter: "1749580567000" }],
      },
    });
    expect(violationsOf(text)).toEqual([
      "aliyun.cas ListCertificates: response field TotalCount is a string ('many'); the contract says integer",
    ]);
  });

  describe("through the setup's observer", () => {
    const showPath = "/v3/scm/certificates/scs1";
    const sim = new SimServer(
      (request): SimAnswer =>
        request.url.pathname === showPath
          ? { status: 200, body: { id: "scs1", invented: true } }
          : { status: 200, body: { certificates: [scmCertificate], total_count: 1 } },
      () => ({ status: 200, body: { certificates: "not-a-list", total_count: "many" } }),
      {},
      "huawei.scm",
    );
    let base = "";
    beforeAll(async () => {
      base = await sim.listen();
    });
    afterAll(() => sim.close());
    const get = async (path: string) => (await fetch(`${base}${path}`)).json();

    it("does not check exchanges inside deliberately(), nested or thrown out of", async () => {
      const before = contractViolations().length;
      await deliberately(async () => {
        await deliberately(() => get(showPath));
        await get(showPath);
      });
      await expect(
        deliberately(async () => {
          await get(showPath);
          throw new Error("probe refused");
        }),
      ).rejects.toThrow("probe refused");
      expect(contractViolations()).toHaveLength(before);
      expect(exercisedContracts().has("huawei.scm.ShowCertificate")).toBe(false);

      await get("/v3/scm/certificates?limit=10");
      expect(exercisedContracts().has("huawei.scm.ListCertificates")).toBe(true);
    });

    it("does not check a fault the simulator was told to answer", async () => {
      const before = contractViolations().length;
      sim.inject("malformed");
      await get("/v3/scm/certificates?limit=10");
      expect(contractViolations()).toHaveLength(before);
    });
  });
});
