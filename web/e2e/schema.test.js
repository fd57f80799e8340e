// The app against the API's schema.graphql, without a server: every operation it sends is
// valid, and the generated possibleTypes are current.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { buildSchema, validate } from "graphql";
import * as operations from "../src/operations.js";
import generated from "../src/possibleTypes.js";
import { SCHEMA, possibleTypes } from "../scripts/possible-types.js";

const sdl = readFileSync(SCHEMA, "utf8");

test("every operation in src/operations.js is valid against schema.graphql", () => {
  const schema = buildSchema(sdl);
  for (const [name, document] of Object.entries(operations)) {
    assert.deepEqual(
      validate(schema, document).map((error) => error.message),
      [],
      name,
    );
  }
});

test("src/possibleTypes.js matches schema.graphql (else: cd web && npm run possible-types)", () => {
  assert.deepEqual(generated, possibleTypes(sdl));
});
