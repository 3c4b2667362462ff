import type { SourceConfig } from "../config/schema.js";
import { huaweiScm } from "./huawei/scm.js";
import type { SourceDriver } from "./types.js";

/** Every source type certwatch can sweep. Adding a cloud adds its folder and one line here. */
const drivers: { [T in SourceConfig["type"]]: SourceDriver<T> } = {
  "huawei-scm": huaweiScm,
};

export function driverFor<T extends SourceConfig["type"]>(type: T): SourceDriver<T> {
  return drivers[type];
}
