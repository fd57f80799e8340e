// Fragments the operations of every area share (src/**/operations.js).
import { gql } from "@apollo/client";

/** A result union's failure: its message and code, and for ValidationFailed the fields
 * (`problemsOf` in forms.jsx puts each under its field). */
export const PROBLEM = gql`
  fragment Problem on Error {
    code
    message
    ... on ValidationFailed {
      fieldErrors {
        field
        message
      }
    }
  }
`;
