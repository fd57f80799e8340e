"""The Strawberry schema: every domain's Query, Mutation and Subscription merged, built
from the settings by `build_schema` (one per app; nothing of it is a process global)."""

from graphql import lexicographic_sort_schema, print_schema
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from healthcare.config import Settings
from healthcare.graphql.errors import MaskUnexpectedErrors
from healthcare.graphql.execution import (
    CachedDocuments,
    DocumentCache,
    HealthcareSchema,
    LeanExecutionContext,
    OperationScope,
)
from healthcare.graphql.limits import GraphQLLimits, schema_extensions
from healthcare.graphql.operation_metrics import OperationMetrics
from healthcare.schema import (
    appointments,
    audit_log,
    auth,
    availability,
    calls,
    chat,
    consultations,
    emails,
    notifications,
    users,
)
from healthcare.schema.loaders import Loaders
from healthcare.schema.sql import COMPILED_SQL

Query = merge_types(
    "Query",
    (
        users.Query,
        availability.Query,
        appointments.Query,
        consultations.Query,
        notifications.Query,
        chat.Query,
        calls.Query,
        audit_log.Query,
        emails.Query,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        auth.Mutation,
        users.Mutation,
        availability.Mutation,
        appointments.Mutation,
        consultations.Mutation,
        notifications.Mutation,
        chat.Mutation,
        calls.Mutation,
        emails.Mutation,
    ),
)
Subscription = merge_types(
    "Subscription",
    (
        appointments.Subscription,
        notifications.Subscription,
        chat.Subscription,
        calls.Subscription,
    ),
)


def build_schema(settings: Settings, *, reference: bool = False) -> HealthcareSchema:
    """The schema for `settings`: their limits, and suggestions ("Did you mean ...?")
    only in development. `reference`: executed by graphql-core's own execution context,
    every resolver through strawberry's wrapper, none of `graphql.execution`'s shortcuts:
    what tests/test_execution_differential.py compares the served schema with."""
    limits = GraphQLLimits.from_settings(settings)
    documents = DocumentCache()
    return HealthcareSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Not `sort_schema=True`: it rebuilds the types after strawberry has bound union
        # resolution to the unsorted ones, and every result union then fails. `sdl()`
        # sorts.
        config=StrawberryConfig(auto_camel_case=True),
        execution_context_class=None if reference else LeanExecutionContext,
        extensions=[
            OperationMetrics,  # first: its time includes the others'
            MaskUnexpectedErrors,
            *schema_extensions(limits),
            lambda: CachedDocuments(documents),
            lambda: OperationScope(Loaders),
        ],
        max_chars=limits.max_chars,
        suggestions=not settings.is_production,
        documents=documents,
        direct_resolvers=not reference,
        compiled_sql=None if reference else COMPILED_SQL,
        prepared=not reference,
    )


def sdl(schema: HealthcareSchema) -> str:
    """The schema in SDL, types sorted by name so that the committed file diffs well."""
    return print_schema(lexicographic_sort_schema(schema.graphql_schema)) + "\n"
