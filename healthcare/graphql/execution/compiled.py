"""Root fields of a known operation answered by one SQL statement each, their JSON
written by PostgreSQL: the path `LeanExecutionContext` takes, where it can, for a query
whose root fields are all lists (`RootList`) or lookups (`RootLookup`) the schema
declares, of objects it says where to find in SQL (`SqlSource`).

An operation is compiled once per (operation node, viewer's role), where its selections
cannot depend on its variables (`plans.selections_fixed`), and kept with its object
plans. What it compiles:

- a list's `Connection`: `edges { cursor node }`, `nodes`, `pageInfo { hasNextPage
  endCursor }` and `__typename`s, written by Python around the rows; a lookup's object,
  or null (and the refusal its `DeniedWhenNull` records);
- on its objects, plain fields (`plans.plain_field`: an attribute, no resolver) whose
  attribute the source has a column for, as the served schema writes them: ids and
  strings as JSON text, enums by name, instants as Python's `isoformat`, dates; with their
  field rules, each `RowRule`'s SQL form (`RowRule.sql`), for the viewer's role;
- fields whose value is one object, that the source joins (`SqlRelation`), and the same
  below them;
- `__typename`.

Anything else in the operation (another field, a rule without an SQL form, arguments on a
nested field, a directive) and the operation goes graphql-core's way, as before; so does
every operation on SQLite. The root's rows are the rows its resolver finds (a list's:
`RootList.rows`, the resolver's own function, paged by `pagination.page_rows`; a
lookup's: the resolver's own statement), that statement wrapped in one that joins the
objects below and writes each row's JSON; the audit trail gets what the audited types'
`is_type_of` would record (`auditing.READS_RECORDED`, given the attributes each
declaration reads, selected beside the JSON). Should a compiled statement fail, the
operation runs the old way (and a warning says so).

tests/test_compiled.py runs every declared field, whole and alone, as every persona,
both ways, and compares the answers byte for byte and the trail row for row; it asks
every row rule both ways too. tests/test_execution_differential.py runs the served
schema against graphql-core's own execution.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import uuid
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

import orjson
from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLError,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLObjectType,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    get_nullable_type,
)
from graphql.execution.values import get_argument_values
from strawberry.permission import PermissionExtension
from strawberry.schema.schema_converter import CustomGraphQLEnumType
from strawberry.types.arguments import convert_arguments
from tortoise.models import Model
from tortoise.queryset import QuerySet

from healthcare import db, models
from healthcare.graphql.auditing import (
    READS_RECORDED,
    DeniedWhenNull,
    RecordReads,
    fields_asked,
    refused,
)
from healthcare.graphql.context import Context
from healthcare.graphql.execution.plans import (
    STRAWBERRY_FIELD,
    field_without_arguments,
    operation_plans,
    plain_field,
)
from healthcare.graphql.pagination import (
    check_page_size,
    cursor_of,
    decode_cursor,
    rows_after,
)
from healthcare.graphql.permissions import IsAuthenticated

logger = logging.getLogger(__name__)

# The placeholders, in a compiled statement, of the viewer's id (numbered when it runs)
# and of the statement of the page's rows.
VIEWER = "$viewer"
PAGE = "$page"
# The id of the user compiled SQL is written for (`compile_operation`): nobody's.
NOBODY = uuid.UUID(int=0)
# A response name, as GraphQL's grammar has it (the parser allows no other).
GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


@dataclass(frozen=True)
class SqlRelation:
    """A field whose value is one object of the strawberry type `target`, joined where
    `on` holds (`{parent}`, `{child}`: the two rows' aliases). `on` must find at most one
    row (a key, or a unique column): more would repeat the parent's row."""

    target: type
    on: str


@dataclass(frozen=True)
class SqlSource:
    """Where the objects of the strawberry type `cls` are in SQL: rows of `model`; an
    attribute is the model's column of the same name unless `columns` says otherwise
    (SQL with `{t}` for the row); `relations` by the field's Python name; `audited`, the
    attributes the type's `audited` declaration reads of an object."""

    cls: type
    model: type[Model]
    columns: Mapping[str, str] = field(default_factory=dict)
    relations: Mapping[str, SqlRelation] = field(default_factory=dict)
    audited: tuple[str, ...] = ()

    def column(self, attribute: str) -> str | None:
        """The SQL of `attribute` (with `{t}`), or None where there is none."""
        if attribute in self.columns:
            return self.columns[attribute]
        column = self.model._meta.fields_db_projection.get(attribute)
        return None if column is None else f'{{t}}."{column}"'

    @property
    def table(self) -> str:
        return f'"{self.model._meta.db_table}"'


@dataclass(frozen=True)
class RootList:
    """A root field whose value is a Connection of `node` objects: a page, by `first`
    and `after`, in (`sort_field`, id) order, of the rows `rows(viewer, **filters)` gives
    (the resolver's own function; the field's other arguments are the filters, by their
    Python names). It may raise a GraphQLError for a filter: graphql-core's way then
    reports it."""

    node: type
    rows: Callable[..., QuerySet[Any]]
    sort_field: str


@dataclass(frozen=True)
class RootLookup:
    """A root field whose value is one `node` object or null, by its arguments: the row
    `statement(viewer, **arguments)` selects (the resolver's own statement; None where
    it runs none, an id that is not one), null where there is none, and the refusal
    recorded if the field's `DeniedWhenNull` says so, as it records it."""

    node: type
    statement: Callable[..., db.Statement | None]


@dataclass(frozen=True)
class CompiledSql:
    """What the root fields of a schema are compiled from: the sources by strawberry
    type, the root lists and lookups by the root field's GraphQL name."""

    sources: Sequence[SqlSource]
    root_lists: Mapping[str, RootList]
    root_lookups: Mapping[str, RootLookup]

    def source_of(self, strawberry_type: type) -> SqlSource | None:
        return next((s for s in self.sources if s.cls is strawberry_type), None)


# ---- compiling -------------------------------------------------------------------------


class NotCompiled(Exception):
    """Something in the operation the compiled path does not do."""


@dataclass(frozen=True)
class AuditedObjects:
    """The objects of one selection of an audited type: how the type records a read,
    the fields asked, and the columns of the row holding the attributes its
    declaration reads (the first is its id: null where there is no object)."""

    record: RecordReads
    fields: tuple[str, ...]
    row_type: Callable[..., Any]  # a named tuple of the attributes
    columns: tuple[int, ...]


@dataclass(frozen=True)
class CompiledRoot:
    """What every compiled root field has: its response name, its definition and node
    (for its arguments), the statement around the resolver's rows (`PAGE`, and the
    viewer's placeholder), and the reads its objects make."""

    key: str
    field_definition: Any
    node: FieldNode
    select: str
    audited: tuple[AuditedObjects, ...]

    @functools.cached_property
    def asks_viewer(self) -> bool:
        """Whether the statement reads the viewer's id (a field rule does, for some
        roles), which then follows the resolver's values."""
        return VIEWER in self.select


@dataclass(frozen=True)
class CompiledLookup(CompiledRoot):
    """A lookup: its object's JSON (a column), and the refusal an answer of null
    records: (entity, the argument naming the row), if any."""

    root: RootLookup
    column: int
    refusal: tuple[models.AuditEntity, str] | None


@dataclass(frozen=True)
class CompiledList(CompiledRoot):
    """A list: how the Connection's JSON is written around its rows."""

    root: RootList
    model: type[Model]  # its rows'
    connection: tuple[tuple[str, str, Any], ...]
    sort_column: int
    id_column: int
    cursors: bool  # whether a cursor is asked (an edge's, or the page's end)


class Builder:
    """Writes one root field's statement: the JSON of each object selection, the joins,
    and the audited objects' attributes, as columns."""

    def __init__(self, executor: Any, compiled: CompiledSql, user: models.User) -> None:
        self.executor = executor
        self.compiled = compiled
        self.user = user
        self.columns: list[str] = []
        self.joins: list[str] = []
        self.aliases: dict[tuple[str, ...], str] = {}
        self.audited: list[AuditedObjects] = []

    def select(self, order: str = "") -> str:
        """The statement: the columns, from the resolver's rows (`PAGE`) and the joins.
        Written of the schema's names and the resolver's statement: no value."""
        return (
            "SELECT "  # noqa: S608
            + ", ".join(f"{sql} AS c{index}" for index, sql in enumerate(self.columns))
            + f" FROM ({PAGE}) AS t0 "
            + " ".join(self.joins)
            + order
        )

    def column(self, sql: str) -> int:
        self.columns.append(sql)
        return len(self.columns) - 1

    def object_json(
        self,
        object_type: GraphQLObjectType,
        source: SqlSource,
        alias: str,
        path: tuple[str, ...],
        details: Any,
    ) -> str:
        """The SQL writing the JSON of one object of `source` (row `alias`) asked with
        `details`, and the reads it makes."""
        schema = self.executor.schema
        parts = []
        for key, asked, field_details in selected(self.executor, object_type, details):
            if not GRAPHQL_NAME.fullmatch(key):  # written into the SQL: never anything else
                raise NotCompiled(key)
            if asked == "__typename":
                parts.append(f'\'"{key}":"{object_type.name}"\'')
                continue
            plain = plain_field(schema, object_type, field_details, with_viewer=True)
            if plain is not None:
                attribute, _, _, _, rules = plain
                value = self.leaf_json(object_type, asked, source, alias, attribute)
                parts.append(f"'\"{key}\":' || {self.ruled(value, rules, source, alias)}")
                continue
            value = self.relation_json(object_type, source, alias, path, field_details)
            parts.append(f"'\"{key}\":' || {value}")
        self.audit(source, alias, details)
        return "'{' || " + " || ',' || ".join(parts) + " || '}'" if parts else "'{}'"

    def leaf_json(
        self,
        object_type: GraphQLObjectType,
        name: str,
        source: SqlSource,
        alias: str,
        attribute: str,
    ) -> str:
        leaf = get_nullable_type(object_type.fields[name].type)
        return json_of(leaf, SourceColumns(source, alias)[attribute])

    def ruled(self, value: str, rules: Sequence[Any], source: SqlSource, alias: str) -> str:
        """`value` where every rule allows the viewer the row, else null."""
        columns = SourceColumns(source, alias)
        conditions = []
        for rule in rules:
            try:
                condition = rule.sql(self.user, columns, VIEWER)
            except NotImplementedError:
                raise NotCompiled(f"{type(rule).__name__}: no SQL") from None
            if condition == "FALSE":
                return "'null'"
            if condition != "TRUE":
                conditions.append(f"({condition})")
        if not conditions:
            return value
        return f"CASE WHEN {' AND '.join(conditions)} THEN {value} ELSE 'null' END"

    def relation_json(
        self,
        object_type: GraphQLObjectType,
        source: SqlSource,
        alias: str,
        path: tuple[str, ...],
        details: Any,
    ) -> str:
        schema = self.executor.schema
        field_def = field_without_arguments(schema, object_type, details)
        definition = (field_def.extensions or {}).get(STRAWBERRY_FIELD) if field_def else None
        name = details[0].node.name.value
        if definition is None or definition.extensions:
            raise NotCompiled(f"{object_type.name}.{name}")
        relation = source.relations.get(definition.python_name)
        target_type = get_nullable_type(field_def.type) if field_def else None
        target = self.compiled.source_of(relation.target) if relation else None
        if relation is None or target is None or not isinstance(target_type, GraphQLObjectType):
            raise NotCompiled(f"{object_type.name}.{name}")
        child_path = (*path, definition.python_name)
        child = self.aliases.get(child_path)
        if child is None:
            child = self.aliases[child_path] = f"t{len(self.aliases) + 1}"
            on = relation.on.format(parent=alias, child=child)
            self.joins.append(f"LEFT JOIN {target.table} AS {child} ON {on}")
        value = self.object_json(target_type, target, child, child_path, details)
        return f"CASE WHEN {child}.\"id\" IS NULL THEN 'null' ELSE {value} END"

    def audit(self, source: SqlSource, alias: str, details: Any) -> None:
        record = READS_RECORDED.get(source.cls)
        if record is None:
            return
        fields = fields_asked(
            [each.node for each in details],
            # graphql-core's execution keeps each fragment's definition with its details
            {name: each.definition for name, each in self.executor.fragments.items()},
            {},  # the selections do not depend on the variables (`selections_fixed`)
        )
        attributes = ("id", *(a for a in source.audited if a != "id"))
        sql = SourceColumns(source, alias)
        columns = [self.column(sql[attribute]) for attribute in attributes]
        row_type = namedtuple(f"{source.cls.__name__}Row", attributes)  # type: ignore[misc]
        self.audited.append(AuditedObjects(record, fields, row_type, tuple(columns)))


class SourceColumns(Mapping[str, str]):
    """A source's attributes as SQL of the row `alias`, for `RowRule.sql`."""

    def __init__(self, source: SqlSource, alias: str) -> None:
        self.source = source
        self.alias = alias

    def __getitem__(self, attribute: str) -> str:
        column = self.source.column(attribute)
        if column is None:
            raise NotCompiled(f"{self.source.cls.__name__}.{attribute}: no column")
        return column.format(t=self.alias)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def json_of(leaf: Any, sql: str) -> str:
    """SQL writing the value `sql` of a leaf type as the served schema writes it in JSON
    (never SQL's null: JSON's)."""
    if leaf in (GraphQLString, GraphQLID):  # text, whatever the column's type (a UUID)
        return f"coalesce(to_json(({sql})::text)::text, 'null')"
    if leaf in (GraphQLBoolean, GraphQLInt):
        return f"coalesce(to_json({sql})::text, 'null')"
    if isinstance(leaf, CustomGraphQLEnumType):
        names = " ".join(
            f"WHEN {quoted(str(member.value))} THEN {quoted(orjson.dumps(member.name).decode())}"
            for member in cast(type[Enum], leaf.wrapped_cls)
        )
        return f"(CASE ({sql})::text {names} ELSE 'null' END)"
    if leaf.name == "DateTime":  # Python's isoformat: microseconds only when there are some
        utc = f"({sql}) AT TIME ZONE 'UTC'"
        fraction = (
            f"CASE WHEN date_trunc('second', {sql}) = ({sql}) THEN '' "
            f"ELSE to_char({utc}, '.US') END"
        )
        text = f"""'"' || to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') || {fraction} || '+00:00"'"""
        return f"CASE WHEN ({sql}) IS NULL THEN 'null' ELSE {text} END"
    if leaf.name == "Date":
        day = f"""'"' || to_char({sql}, 'YYYY-MM-DD') || '"'"""
        return f"CASE WHEN ({sql}) IS NULL THEN 'null' ELSE {day} END"
    raise NotCompiled(f"a value of {leaf}")


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def compile_list(
    executor: Any, compiled: CompiledSql, user: models.User, key: str, details: Any
) -> CompiledList:
    node = details[0].node
    root = compiled.root_lists[node.name.value]
    field_def, refusal = root_field(executor, details)
    source = compiled.source_of(root.node)
    if source is None or refusal is not None:
        raise NotCompiled(node.name.value)
    connection_type = get_nullable_type(field_def.type)
    builder = Builder(executor, compiled, user)
    connection: list[tuple[str, str, Any]] = []
    for name, asked, each in selected(executor, connection_type, details):
        if asked == "__typename":
            connection.append((name, "typename", json_string(connection_type.name)))
        elif asked == "edges":
            connection.append((name, "edges", edge_plan(builder, source, connection_type, each)))
        elif asked == "nodes":
            node_type = item_type(connection_type, "nodes")
            nodes = builder.object_json(node_type, source, "t0", (), each)
            connection.append((name, "nodes", builder.column(nodes)))
        elif asked == "pageInfo":
            connection.append((name, "pageInfo", page_info_plan(connection_type, each, executor)))
        else:
            raise NotCompiled(f"{connection_type.name}.{asked}")
    sort_column = builder.column(f't0."{root.sort_field}"')
    id_column = builder.column('t0."id"')
    select = builder.select(f' ORDER BY t0."{root.sort_field}", t0."id"')
    cursors = any(
        (kind == "edges" and any(k == "cursor" for _, k, _ in plan))
        or (kind == "pageInfo" and any(asked == "endCursor" for _, asked in plan))
        for _, kind, plan in connection
    )
    return CompiledList(
        key=key,
        field_definition=field_def,
        node=node,
        select=select,
        audited=tuple(builder.audited),
        root=root,
        model=source.model,
        connection=tuple(connection),
        sort_column=sort_column,
        id_column=id_column,
        cursors=cursors,
    )


def compile_lookup(
    executor: Any, compiled: CompiledSql, user: models.User, key: str, details: Any
) -> CompiledLookup:
    node = details[0].node
    root = compiled.root_lookups[node.name.value]
    field_def, refusal = root_field(executor, details)
    source = compiled.source_of(root.node)
    object_type = get_nullable_type(field_def.type)
    if source is None or not isinstance(object_type, GraphQLObjectType):
        raise NotCompiled(node.name.value)
    builder = Builder(executor, compiled, user)
    column = builder.column(builder.object_json(object_type, source, "t0", (), details))
    return CompiledLookup(
        key=key,
        field_definition=field_def,
        node=node,
        select=builder.select(),
        audited=tuple(builder.audited),
        root=root,
        column=column,
        refusal=refusal,
    )


def root_field(executor: Any, details: Any) -> tuple[Any, tuple[models.AuditEntity, str] | None]:
    """The root field `details` ask for, and the refusal its `DeniedWhenNull` records
    (entity, argument), if it has one; NotCompiled unless its other extensions are
    permissions asking for a signed-in viewer only (which the compiled path has)."""
    node = details[0].node
    field_def = executor.schema.get_field(executor.schema.query_type, node.name.value)
    definition = (field_def.extensions or {}).get(STRAWBERRY_FIELD) if field_def else None
    if definition is None or len(details) != 1 or details[0].fragment_variable_values:
        raise NotCompiled(node.name.value)
    refusal = None
    for extension in definition.extensions:
        if type(extension) is DeniedWhenNull and refusal is None:
            refusal = (extension.entity, extension.argument)
        elif type(extension) is not PermissionExtension or not all(
            type(permission) is IsAuthenticated for permission in extension.permissions
        ):
            raise NotCompiled(f"{node.name.value}: {type(extension).__name__}")
    return field_def, refusal


def selected(
    executor: Any, object_type: GraphQLObjectType, details: Any
) -> Iterator[tuple[str, str, Any]]:
    """The fields `details` ask of an object of `object_type`, as graphql-core collects
    them: each one's response name, the field's name and its field details."""
    selection, deferred, _ = executor.collect_subfields(object_type, details)
    if deferred:
        raise NotCompiled("@defer")
    for name, each in selection.items():
        yield name, each[0].node.name.value, each


def item_type(parent: GraphQLObjectType, name: str) -> GraphQLObjectType:
    """The object type of the items of the list field `name` of `parent`."""
    list_type = get_nullable_type(parent.fields[name].type)
    item = get_nullable_type(list_type.of_type) if isinstance(list_type, GraphQLList) else None
    if not isinstance(item, GraphQLObjectType):
        raise NotCompiled(f"{parent.name}.{name}")
    return item


def json_string(value: str) -> str:
    return orjson.dumps(value).decode()


def edge_plan(
    builder: Builder, source: SqlSource, connection_type: GraphQLObjectType, details: Any
) -> tuple[tuple[str, str, Any], ...]:
    edge_type = item_type(connection_type, "edges")
    plan: list[tuple[str, str, Any]] = []
    for name, asked, each in selected(builder.executor, edge_type, details):
        if asked == "__typename":
            plan.append((name, "typename", json_string(edge_type.name)))
        elif asked == "cursor":
            plan.append((name, "cursor", None))
        elif asked == "node":
            node_type = get_nullable_type(edge_type.fields["node"].type)
            column = builder.column(builder.object_json(node_type, source, "t0", (), each))
            plan.append((name, "node", column))
        else:
            raise NotCompiled(f"{edge_type.name}.{asked}")
    return tuple(plan)


def page_info_plan(
    connection_type: GraphQLObjectType, details: Any, executor: Any
) -> tuple[tuple[str, str], ...]:
    page_info_type = get_nullable_type(connection_type.fields["pageInfo"].type)
    plan = []
    for name, asked, _ in selected(executor, page_info_type, details):
        if asked not in ("__typename", "hasNextPage", "endCursor"):
            raise NotCompiled(f"{page_info_type.name}.{asked}")
        plan.append((name, asked if asked != "__typename" else json_string(page_info_type.name)))
    return tuple(plan)


# ---- running ---------------------------------------------------------------------------


class JsonText:
    """A root field's value, written as JSON already: graphql-core's data holds it as it
    is; the encoders write it in (`fragment`, `parsed`)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def fragment(value: object) -> orjson.Fragment:
    """For orjson's `default`: a `JsonText` written as it is."""
    if isinstance(value, JsonText):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


def parsed(value: object) -> object:
    """For the standard library's encoder's `default`: a `JsonText` as its value."""
    if isinstance(value, JsonText):
        return json.loads(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


@dataclass(frozen=True)
class Page:
    """A compiled root field, ready to run: its statement (None: nothing to run, the
    answer is null), and its arguments."""

    compiled: CompiledRoot
    statement: db.Statement | None
    arguments: dict[str, Any]


def answer(
    executor: Any,
    root_type: GraphQLObjectType,
    grouped_field_set: Any,
    otherwise: Callable[[], Any],
) -> Any | None:
    """The root fields' answer, as an awaitable of graphql-core's data (each field's
    value already JSON, a `JsonText`), or None where the compiled path does not
    serve the operation, or its arguments are not good (graphql-core's way reports
    them). Should a statement fail, `otherwise()` (graphql-core's way) answers."""
    strawberry_schema = getattr(executor.schema, "_strawberry_schema", None)
    compiled: CompiledSql | None = getattr(strawberry_schema, "compiled_sql", None)
    operation: OperationDefinitionNode = executor.operation
    context = executor.context_value
    if (
        compiled is None
        or operation.operation is not OperationType.QUERY
        or not isinstance(context, Context)
        or context.viewer.user is None
    ):
        return None
    user = context.viewer.user
    plans = operation_plans(operation, executor.fragments)
    if not plans.shareable:
        return None
    key = (executor.schema, user.role)
    found = plans.compiled.get(key)
    if found is None:
        found = plans.compiled[key] = (
            grouped_field_set,
            compile_operation(executor, compiled, user, grouped_field_set),
        )
    roots = found[1]
    if roots is None or db.dialect() != "postgres":  # (asked last: it costs a little)
        return None
    try:
        pages = [page_of(executor, strawberry_schema, each, user) for each in roots]
    except GraphQLError:  # bad arguments: graphql-core's way reports them
        return None
    except Exception as error:  # the resolver's function failed: so be it, the old way
        logger.warning("a compiled query's arguments failed (%s)", type(error).__name__)
        return None
    return run(pages, context, otherwise)


def compile_operation(
    executor: Any, compiled: CompiledSql, user: models.User, grouped_field_set: Any
) -> tuple[CompiledRoot, ...] | None:
    """Every root field of the operation compiled, or None if one cannot be. The SQL
    is written for any viewer of `user`'s role, and kept for all of them: a rule's SQL
    may read the role, and the id only through its placeholder. It is written for a
    made-up user with a role and an id that is nobody's (reading anything else raises,
    and nothing is compiled), so that a rule that wrote the id into the SQL would match
    nobody rather than serve one viewer's condition to others."""
    viewer = models.User.with_id_and_role(NOBODY, user.role)
    roots: list[CompiledRoot] = []
    try:
        for key, details in grouped_field_set.items():
            name = details[0].node.name.value
            if name in compiled.root_lists:
                roots.append(compile_list(executor, compiled, viewer, key, details))
            elif name in compiled.root_lookups:
                roots.append(compile_lookup(executor, compiled, viewer, key, details))
            else:
                return None
    except NotCompiled:
        return None
    except Exception:  # a rule that read more of the viewer, a schema this cannot write
        logger.exception("an operation could not be compiled; it runs as before")
        return None
    return tuple(roots)


def page_of(
    executor: Any, strawberry_schema: Any, compiled: CompiledRoot, user: models.User
) -> Page:
    """The statement the root field's arguments ask for (GraphQLError for bad ones)."""
    given = get_argument_values(compiled.field_definition, compiled.node, executor.variable_values)
    definition = compiled.field_definition.extensions[STRAWBERRY_FIELD]
    arguments = convert_arguments(
        given,
        definition.arguments,
        scalar_registry=strawberry_schema.schema_converter.scalar_registry,
        config=strawberry_schema.config,
    )
    if isinstance(compiled, CompiledList):
        found: db.Statement | None = page_statement(compiled, user, arguments)
    else:
        assert isinstance(compiled, CompiledLookup)
        found = compiled.root.statement(user, **arguments)
    if found is None:
        return Page(compiled, None, arguments)
    text = compiled_statement(compiled.select, found.sql, len(found.values))
    values = [*found.values, user.id] if compiled.asks_viewer else found.values
    return Page(compiled, db.Statement(text, values, found.client), arguments)


def page_statement(
    compiled: CompiledList, user: models.User, arguments: dict[str, Any]
) -> db.Statement:
    """The statement of the page the arguments ask for, as the resolver pages its rows
    (`page_rows`); without filters, from a template written once per role
    (`page_template`). GraphQLError for a page size or cursor out of bounds."""
    root = compiled.root
    first, after = arguments["first"], arguments["after"]
    check_page_size(first)
    key = decode_cursor(after) if after is not None else None
    filters = {k: v for k, v in arguments.items() if k not in ("first", "after")}
    if not any(value is not None for value in filters.values()):
        template = page_template(root, compiled.model, user.role, key is not None, db.dialect())
        if template is not None:
            return template.statement((user.id, first + 1, *(key or ())))
    rows = rows_after(root.rows(user, **filters), first + 1, key, root.sort_field)
    return db.statement(rows)


# Arguments of a page's statement to write its template with: distinct from each other and
# from anything a rule may hold (a viewer's id, a limit, a cursor's instant and id).
PAGE_PROBES = (
    (uuid.UUID(int=1), 1_000_001, datetime(2001, 1, 1, 1, 1, 1, 1, UTC), uuid.UUID(int=2)),
    (uuid.UUID(int=3), 1_000_003, datetime(2003, 3, 3, 3, 3, 3, 3, UTC), uuid.UUID(int=4)),
)


@functools.lru_cache(maxsize=256)  # root lists x roles x with or without a cursor x dialects
def page_template(
    root: RootList, model: type[Model], role: models.Role, after: bool, dialect: str
) -> db.StatementTemplate | None:
    """The statement of a page of `root`'s rows without filters for any viewer of `role`,
    page size and cursor (`db.statement_template`, as `visibility.lookup_template`; None
    where the rule reads more of the viewer than their id and role)."""
    arity = 4 if after else 2

    def build(arguments: Sequence[Any]) -> QuerySet[Any]:
        viewer = models.User.with_id_and_role(arguments[0], role)
        key = (arguments[2], arguments[3]) if after else None
        return rows_after(root.rows(viewer), arguments[1], key, root.sort_field)

    probes = [probe[:arity] for probe in PAGE_PROBES]
    return db.statement_template(model, build, arity, probes)


@functools.lru_cache(maxsize=256)  # compiled root fields x the statements of their arguments
def compiled_statement(select: str, inner: str, values: int) -> str:
    return select.replace(VIEWER, f"${values + 1}").replace(PAGE, inner)


async def run(pages: list[Page], context: Context[Any], otherwise: Callable[[], Any]) -> Any:
    try:
        found = [await rows_of(page.statement) for page in pages]
        # Reads a failure here leaves buffered are recorded once: the old way's own are
        # the same records, which an operation keeps once (`auditing._record_reads`).
        return {
            page.compiled.key: JsonText(written(page, rows, context))
            for page, rows in zip(pages, found, strict=True)
        }
    except Exception as error:
        logger.warning("a compiled query failed (%s); it runs as before", type(error).__name__)
        data = otherwise()
        return await data if inspect.isawaitable(data) else data


async def rows_of(statement: db.Statement | None) -> Sequence[Any]:
    if statement is None:
        return []
    return await db.select(statement.client, statement.sql, statement.values)


def written(page: Page, rows: Sequence[Any], context: Context[Any]) -> str:
    """The field's JSON, the reads of its objects recorded."""
    compiled = page.compiled
    if isinstance(compiled, CompiledLookup):
        record_reads(compiled, rows, context)
        if rows:
            return str(rows[0][compiled.column])
        if compiled.refusal is not None:
            entity, argument = compiled.refusal
            refused(context, compiled.node.name.value, entity, page.arguments.get(argument))
        return "null"
    assert isinstance(compiled, CompiledList)
    first = page.arguments["first"]
    has_next = len(rows) > first
    rows = rows[:first]
    record_reads(compiled, rows, context)
    cursors: list[str] = []
    if compiled.cursors:
        cursors = [cursor_of(row[compiled.sort_column], row[compiled.id_column]) for row in rows]
    parts = []
    for name, kind, plan in compiled.connection:
        if kind == "typename":
            value = plan
        elif kind == "nodes":
            value = "[" + ",".join([row[plan] for row in rows]) + "]"
        elif kind == "edges":
            edges = [edge(plan, row, cursors, index) for index, row in enumerate(rows)]
            value = "[" + ",".join(edges) + "]"
        else:
            value = page_info(plan, has_next, cursors)
        parts.append(f'"{name}":{value}')
    return "{" + ",".join(parts) + "}"


def record_reads(compiled: CompiledRoot, rows: Sequence[Any], context: Context[Any]) -> None:
    """What `is_type_of` of each audited object in the rows would record."""
    for objects in compiled.audited:
        row_type, columns = objects.row_type, objects.columns
        found = [
            row_type(*[row[column] for column in columns])
            for row in rows
            if row[columns[0]] is not None  # an object there (a join may find none)
        ]
        objects.record(context, found, objects.fields)


def edge(plan: tuple[tuple[str, str, Any], ...], row: Any, cursors: list[str], index: int) -> str:
    parts = []
    for name, kind, value in plan:
        if kind == "node":
            parts.append(f'"{name}":{row[value]}')
        elif kind == "cursor":
            parts.append(f'"{name}":"{cursors[index]}"')
        else:
            parts.append(f'"{name}":{value}')
    return "{" + ",".join(parts) + "}"


def page_info(plan: tuple[tuple[str, str], ...], has_next: bool, cursors: list[str]) -> str:
    parts = []
    for name, asked in plan:
        if asked == "hasNextPage":
            value = "true" if has_next else "false"
        elif asked == "endCursor":
            value = f'"{cursors[-1]}"' if cursors else "null"
        else:
            value = asked  # the type's name, as JSON
        parts.append(f'"{name}":{value}')
    return "{" + ",".join(parts) + "}"
