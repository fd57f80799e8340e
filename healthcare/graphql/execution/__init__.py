"""The one package that touches strawberry's and graphql-core's internals. Each thing it
relies on is pinned by tests/test_execution.py, so that an upgrade that changes one fails
there, by name, and nowhere else; tests/test_execution_differential.py proves the served
schema answers every field as graphql-core and strawberry alone do.

- `served_schema`: `HealthcareSchema`, strawberry's Schema with our error handling (it
  overrides `_process_errors`), subscriptions refused over HTTP, and documents over the
  size cap refused before parsing, over HTTP and WebSocket (`execute`, `stream`), a
  prepared operation run by `prepared`, and its schema extensions' hooks found by
  `hooks`.
- `hooks`: `LeanExtensionsRunner`, strawberry's runner of schema extensions with each
  extension class's hook for a stage found once, not once per operation.
- `lean`: `LeanExecutionContext`, graphql-core's execution context without its one
  reference cycle, running an async resolver that does not wait at once, executing an
  object's selection by the plan `plans` makes of it, completing the items of a list of
  objects the same way, and giving each event of a subscription memos of its own.
- `plans`: what an object's selection is made of, worked out once per operation, and
  kept for the next operations of a cached document whose selections cannot depend on
  its variables (`OperationPlans`): plain attribute fields read and coerced directly
  (row rules applied per row; an enum member's name kept per member), fields whose value
  is one object (and how an object value, or a list's item, is completed),
  `__typename`, and the rest for graphql-core.
- `direct`: `use_direct_resolvers`, a field without arguments whose resolver asks for
  nothing but its object and the info, or whose only extensions are permissions, is
  resolved by calling its function (or reading its attribute) behind strawberry's own
  permission extensions, without strawberry's per-call argument conversion.
- `compiled`: a query whose root fields are lists and lookups the schema declares
  (schema.sql), asking only fields with a declared column or join, answered on
  PostgreSQL by one statement each that writes the answer's JSON, field rules in SQL
  (`RowRule.sql`), reads recorded as `is_type_of` records them.
- `http`: a plain JSON POST (nearly every request) answered through the view's own
  methods in the order strawberry's `run` calls them, without its handling of other
  requests (GET, the IDE, uploads, streams, content-type parsing); anything else is
  `run`'s. tests/test_plain_post.py compares the two answers.
- `prepared`: a query or mutation whose document validates, run by the steps of the
  schema's extensions (read off them; a schema with an extension it does not mirror is
  never prepared) without strawberry's per-operation machinery around them;
  tests/test_prepared.py compares its answers, audit rows and metrics with strawberry's.
- `operation`: `OperationScope`, each operation's own context, loaders and audit reads
  (strawberry's `execution_context.context`, replaced before execution), its steps
  functions `prepared` calls too.
- `documents`: `DocumentCache` and `CachedDocuments`, parsing and validation cached
  within bounds (strawberry's `validate_document`).
"""

from healthcare.graphql.execution.direct import raw_info, use_direct_resolvers
from healthcare.graphql.execution.documents import CachedDocuments, DocumentCache
from healthcare.graphql.execution.lean import LeanExecutionContext
from healthcare.graphql.execution.operation import OperationScope
from healthcare.graphql.execution.served_schema import HealthcareSchema

__all__ = [
    "CachedDocuments",
    "DocumentCache",
    "HealthcareSchema",
    "LeanExecutionContext",
    "OperationScope",
    "raw_info",
    "use_direct_resolvers",
]
