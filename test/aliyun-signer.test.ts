import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { signCall } from "../lib/sources/aliyun/signer.js";

// A CommonJS package whose class is `exports.default`; require() reaches it the same way under every loader.
const OpenApiUtil: typeof import("@alicloud/openapi-util").default = createRequire(import.meta.url)(
  "@alicloud/openapi-util",
).default;

const AK = "LTAI5tTESTACCESSKEY00";
const SK = "test/secret+with=chars";
const NOW = new Date("2026-11-22T08:01:02.345Z");

interface Case {
  title: string;
  method: "GET" | "POST";
  action: string;
  query: Record<string, string>;
  body?: string;
  securityToken?: string;
}

const cases: Case[] = [
  {
    title: "a GET with a paging query",
    method: "GET",
    action: "ListUserCertificateOrder",
    query: { OrderType: "CERT", CurrentPage: "2", ShowSize: "50", Keyword: "*.example.com & co" },
  },
  {
    title: "a POST with a comma-separated identifier list",
    method: "POST",
    action: "DescribeClientCertificateStatus",
    query: { Identifier: "160ae6bb538d538c70c01f81dcf2aaaa,160ae6bb538d538c70c01f81dcf2bbbb" },
  },
  {
    title: "a POST with a form body and an STS security token",
    method: "POST",
    action: "ListWorkerResource",
    query: { JobId: "8888" },
    body: "CurrentPage=1&ShowSize=50",
    securityToken: "CAIS+sts/token==",
  },
  {
    title: "a GET with an STS security token",
    method: "GET",
    action: "ListDeploymentJob",
    query: { CurrentPage: "1", ShowSize: "50", Status: "error" },
    securityToken: "CAIS+sts/token==",
  },
];

describe("Alibaba ACS3-HMAC-SHA256 signer agrees with getAuthorization from @alicloud/openapi-util", () => {
  for (const c of cases) {
    it(c.title, () => {
      const url = new URL("https://cas.aliyuncs.com/");
      for (const [key, value] of Object.entries(c.query)) url.searchParams.set(key, value);
      const headers = signCall(
        { action: c.action, version: "2020-04-07", method: c.method, url, body: c.body },
        { accessKey: AK, secretKey: SK, securityToken: c.securityToken },
        NOW,
        "nonce-0001",
      );
      const { authorization, ...signed } = headers;
      const oracle = OpenApiUtil.getAuthorization(
        { pathname: "/", method: c.method, query: c.query, headers: signed } as never,
        "ACS3-HMAC-SHA256",
        signed["x-acs-content-sha256"] as string,
        AK,
        SK,
      );
      expect(authorization).toBe(oracle);
      expect(signed["x-acs-date"]).toBe("2026-11-22T08:01:02Z");
      if (c.securityToken) expect(authorization).toContain("x-acs-security-token");
      expect(authorization).not.toContain(SK);
    });
  }
});
