// Writes src/possibleTypes.js from ../schema.graphql: which object types implement each
// interface and belong to each union. Apollo's cache needs it to match fragments such as
// `... on Error { code message }` on a mutation's result union (without it, it guesses and
// may drop those fields). Run `npm run possible-types` after the schema changes;
// e2e/schema.test.js fails while the file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { buildSchema, isInterfaceType, isUnionType } from "graphql";

export const SCHEMA = new URL("../../schema.graphql", import.meta.url);
export const OUTPUT = new URL("../src/possibleTypes.js", import.meta.url);

export function possibleTypes(sdl) {
  const schema = buildSchema(sdl);
  const result = {};
  for (const type of Object.values(schema.getTypeMap())) {
    if (isInterfaceType(type) || isUnionType(type)) {
      result[type.name] = schema
        .getPossibleTypes(type)
        .map((t) => t.name)
        .sort();
    }
  }
  return result;
}

export function render(sdl) {
  const header = "// Generated from schema.graphql by `npm run possible-types`: do not edit.\n";
  return `${header}export default ${JSON.stringify(possibleTypes(sdl), null, 2)};\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(OUTPUT, render(readFileSync(SCHEMA, "utf8")));
  console.log(`wrote ${OUTPUT.pathname}`);
}
