import type { SourceConfig } from "../config/schema.js";
import { aliyunClientCertificates } from "./aliyun/client-certificates.js";
import { aliyunDeploymentJobs } from "./aliyun/deployment-jobs.js";
import { aliyunPrivateCa } from "./aliyun/private-ca.js";
import { aliyunSslCertificates } from "./aliyun/ssl-certificates.js";
import { huaweiIdentityCenter } from "./huawei/identity-center.js";
import { huaweiPrivateCa } from "./huawei/private-ca.js";
import { huaweiScm } from "./huawei/scm.js";
import { tlsEndpoints } from "./tls/endpoints.js";
import type { SourceDriver } from "./types.js";

/** Every source type certwatch can sweep. Adding a cloud adds its folder and one line here. */
const drivers: { [T in SourceConfig["type"]]: SourceDriver<T> } = {
  "huawei-scm": huaweiScm,
  "huawei-identity-center": huaweiIdentityCenter,
  "aliyun-client-certificates": aliyunClientCertificates,
  "aliyun-deployment-jobs": aliyunDeploymentJobs,
  "aliyun-ssl-certificates": aliyunSslCertificates,
  "aliyun-private-ca": aliyunPrivateCa,
  "huawei-private-ca": huaweiPrivateCa,
  "tls-endpoints": tlsEndpoints,
};

export function driverFor<T extends SourceConfig["type"]>(type: T): SourceDriver<T> {
  return drivers[type];
}

/** The provider label of a source's own alerts (its health). */
export function providerOf(source: SourceConfig): "huawei" | "aliyun" | "tls" {
  if (source.type === "tls-endpoints") return "tls";
  return source.type.startsWith("huawei") ? "huawei" : "aliyun";
}
