/**
 * dynalite in its own process for the bench, so that the certwatch process's memory is measured without the
 * database's (in Lambda, DynamoDB is not in the process either). Prints the endpoint, runs until stdin closes.
 */
import { startEmbeddedDynamo } from "../lib/store/embedded.js";

const dynamo = await startEmbeddedDynamo(process.argv[2]);
console.log(dynamo.endpoint);
process.stdin.resume();
process.stdin.on("end", () => void dynamo.close().then(() => process.exit(0)));
