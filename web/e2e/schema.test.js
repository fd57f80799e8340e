// The app against the API's schema.graphql, without a server: every operation it sends is
// valid, and the generated possibleTypes are current.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { buildSchema, validate } from "graphql";
import generated from "../src/possibleTypes.js";
import { SCHEMA, possibleTypes } from "../scripts/possible-types.js";
import { WEB } from "./harness.js";

// Every module named operations.js under src/ (src/operations.js, src/admin/operations.js, ...).
const SRC = path.join(WEB, "src");
const operationFiles = readdirSync(SRC, { recursive: true }).filter((file) => path.basename(file) === "operations.js");

const sdl = readFileSync(SCHEMA, "utf8");

test("every operation in src/**/operations.js is valid against schema.graphql", async () => {
  const schema = buildSchema(sdl);
  assert.ok(operationFiles.includes("operations.js"), "src/operations.js is found");
  for (const file of operationFiles) {
    const operations = await import(pathToFileURL(path.join(SRC, file)).href);
    for (const [name, document] of Object.entries(operations)) {
      assert.deepEqual(
        validate(schema, document).map((error) => error.message),
        [],
        `${file}: ${name}`,
      );
    }
  }
});

test("src/possibleTypes.js matches schema.graphql (else: cd web && npm run possible-types)", () => {
  assert.deepEqual(generated, possibleTypes(sdl));
});
