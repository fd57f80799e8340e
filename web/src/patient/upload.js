// The one request Apollo Client cannot send: a file, as a GraphQL multipart request
// (https://github.com/jaydenseric/graphql-multipart-request-spec): `operations` (the query
// with `file: null`), `map` (which variable file "0" fills) and the file as part "0".
import { print } from "graphql";
import { getToken } from "../session.js";
import { UPLOAD_PROFILE_PICTURE } from "./operations.js";

/**
 * Resolves to the `uploadProfilePicture` result (UserPayload or ValidationFailed); throws
 * an Error whose message is safe to show when the request fails (RATE_LIMITED, too big,
 * no answer).
 */
export async function uploadProfilePicture(file) {
  const body = new FormData();
  body.append(
    "operations",
    JSON.stringify({
      operationName: "UploadProfilePicture",
      query: print(UPLOAD_PROFILE_PICTURE),
      variables: { file: null },
    }),
  );
  body.append("map", JSON.stringify({ 0: ["variables.file"] }));
  body.append("0", file, file.name);
  const token = await getToken();
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      // A header a plain HTML form cannot send: the API refuses multipart requests
      // without one (a cross-site form must not post an upload with our credentials).
      headers: { "apollo-require-preflight": "true", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body,
    });
  } catch {
    throw new Error("The server cannot be reached. Try again in a moment.");
  }
  if (response.status === 413) throw new Error("That file is too large.");
  const json = await response.json().catch(() => null);
  if (json?.errors?.length) throw new Error(json.errors[0].message);
  if (!json?.data?.uploadProfilePicture) throw new Error("The upload failed. Try again in a moment.");
  return json.data.uploadProfilePicture;
}
