import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as SSM would see it: the call, and who signed it for which region (SigV4's credential scope). */
export interface SsmRequest {
  target: string;
  name: string;
  withDecryption: boolean;
  accessKeyId: string;
  region: string;
}

/**
 * A local stand-in for AWS Systems Manager Parameter Store's GetParameter over its JSON protocol (POST /,
 * `x-amz-target: AmazonSSM.GetParameter`, `application/x-amz-json-1.1`): it answers from a map of parameters, or
 * `ParameterNotFound` as SSM does, and records who asked for what in which region. Signatures are not checked;
 * a request without one is refused.
 */
export class SsmSim {
  readonly requests: SsmRequest[] = [];
  /** Parameters the caller may not read: answered `AccessDeniedException`, as an IAM policy without them would. */
  readonly denied = new Set<string>();
  private server: Server | undefined;

  constructor(readonly parameters: Map<string, string>) {}

  async listen(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const answer = (status: number, body: unknown) =>
        res.writeHead(status, { "content-type": "application/x-amz-json-1.1" }).end(JSON.stringify(body));
      const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/ssm\/aws4_request/.exec(
        req.headers.authorization ?? "",
      );
      if (!scope) {
        answer(400, {
          __type: "MissingAuthenticationTokenException",
          message: "Missing Authentication Token",
        });
        return;
      }
      const target = String(req.headers["x-amz-target"] ?? "");
      const input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as {
        Name?: string;
        WithDecryption?: boolean;
      };
      const name = input.Name ?? "";
      this.requests.push({
        target,
        name,
        withDecryption: input.WithDecryption === true,
        accessKeyId: scope[1] as string,
        region: scope[2] as string,
      });
      const value = this.parameters.get(name);
      if (target !== "AmazonSSM.GetParameter") {
        answer(400, { __type: "InvalidAction", message: `${target} is not simulated` });
      } else if (this.denied.has(name)) {
        answer(400, {
          __type: "AccessDeniedException",
          message: `not authorized to perform ssm:GetParameter`,
        });
      } else if (value === undefined) {
        answer(400, { __type: "ParameterNotFound", message: "" });
      } else {
        const arn = `arn:aws:ssm:${scope[2]}:111122223333:parameter${name}`;
        answer(200, { Parameter: { Name: name, Type: "SecureString", Value: value, Version: 1, ARN: arn } });
      }
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
