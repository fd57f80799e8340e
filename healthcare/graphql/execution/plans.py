"""What `LeanExecutionContext.execute_fields` plans for an object's selection, once per
operation (graphql-core's grouped field set is the key; every row of a list shares it),
and kept across operations where the document's selections cannot depend on its
variables (`OperationPlans`):

- `__typename`: the type's name, as graphql-core's meta field answers it;
- plain fields (`PlainField`): strawberry's attribute fields without a resolver, read
  and coerced directly; those behind a silent permission of `RowRule`s only get the
  rules, applied per row (in an operation of ours, which has a viewer);
- nested fields (`NestedField`): a field whose value is one object, executed by
  `LeanExecutionContext._execute_nested`; the items of a list of objects are completed
  the same way (`object_value`, once per list field);
- the rest, left to graphql-core."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLID,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    SelectionSetNode,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
)
from strawberry.permission import PermissionExtension
from strawberry.schema.schema_converter import CustomGraphQLEnumType
from strawberry.types.field import StrawberryField

from healthcare.graphql.permissions import RowRule

# strawberry's key, in a GraphQL field's `extensions`, for the StrawberryField it came from.
STRAWBERRY_FIELD = "strawberry-definition"
# A plain field: read `attribute` of the source, coerce it with the leaf type's
# `coerce_output_value` (a str as it is for `String` and `ID`, which would give it back:
# `text`); `nullable` says whether None is an answer; null instead unless every one of the
# `RowRule`s allows the viewer the row.
PlainField = tuple[str, Callable[[Any], Any], bool, bool, tuple[RowRule, ...]]
TEXT_TYPES = (GraphQLString, GraphQLID)


@dataclass(frozen=True)
class ObjectValue:
    """How to complete a value that is one object (of `object_type`; null allowed if
    `nullable`), as `LeanExecutionContext._complete_object` does: the field details it is
    completed for, and the object's own selection (a grouped field set, without @defer).
    A field's value (`NestedField`), or an item of a list field (`list_item`)."""

    object_type: GraphQLObjectType
    nullable: bool
    details: Any
    selection: Any


@dataclass(frozen=True)
class NestedField:
    """A field whose value is one object, without arguments: its response name,
    graphql-core's field, its nodes, and how its value is completed."""

    name: str
    definition: GraphQLField
    nodes: list[FieldNode]
    value: ObjectValue


@dataclass(frozen=True)
class ObjectPlan:
    """An object selection's fields: the response names in order, the plain ones (name,
    then the `PlainField`), and the rest in the selection's order, each a `NestedField`
    or, for graphql-core, its field details."""

    order: tuple[str, ...]
    typename: tuple[str, ...]  # the response names asking `__typename`: the type's name
    plain: tuple[tuple[str, str, Callable[[Any], Any], bool, bool, tuple[RowRule, ...]], ...]
    rest: tuple[tuple[str, Any], ...]
    ruled: bool  # whether a plain field has rules: the viewer is needed
    # whether `__typename`, the plain fields, then the rest is the selection's order (as
    # in most selections): the result is then the values followed by the rest's results
    ordered: bool


def in_order(plan: ObjectPlan, values: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    """The plain values (`__typename` first) and the results of the rest as one result, in
    the selection's order (graphql-core leaves out a field it found no definition for).
    `values` is the result's start, where the plan is `ordered`."""
    if plan.ordered:
        values.update(rest)
        return values
    return {
        name: values[name] if name in values else rest[name]
        for name in plan.order
        if name in values or name in rest
    }


def object_plan(
    schema: GraphQLSchema,
    parent_type: GraphQLObjectType,
    grouped_field_set: Any,
    collect_subfields: Callable[[GraphQLObjectType, Any], Any],
    with_viewer: bool,
) -> ObjectPlan | None:
    """Which fields of the selection are plain and which nested (see `execute_fields`),
    or None if none is."""
    typename = []
    plain = []
    rest: list[tuple[str, Any]] = []
    for name, details in grouped_field_set.items():
        if details[0].node.name.value == "__typename":
            typename.append(name)
            continue
        read = plain_field(schema, parent_type, details, with_viewer)
        if read is not None:
            plain.append((name, *read))
            continue
        one_object = nested_field(schema, parent_type, name, details, collect_subfields)
        rest.append((name, one_object if one_object is not None else details))
    if not typename and not plain and not any(type(f) is NestedField for _, f in rest):
        return None  # nothing planned: graphql-core's way
    ruled = any(rules for *_, rules in plain)
    order = tuple(grouped_field_set)
    ordered = order == (*typename, *(p[0] for p in plain), *(name for name, _ in rest))
    return ObjectPlan(order, tuple(typename), tuple(plain), tuple(rest), ruled, ordered)


def nested_field(
    schema: GraphQLSchema,
    parent_type: GraphQLObjectType,
    name: str,
    details: Any,
    collect_subfields: Callable[[GraphQLObjectType, Any], Any],
) -> NestedField | None:
    """How to execute a field whose value is one object (see `_execute_nested`), or
    None for any other: arguments, a list, a union or interface, @defer below it."""
    field_def = field_without_arguments(schema, parent_type, details)
    if field_def is None or field_def.resolve is None:
        return None
    value = object_value(field_def.type, details, collect_subfields)
    if value is None:
        return None
    nodes = [each.node for each in details]  # graphql-core's `to_nodes`
    return NestedField(name, field_def, nodes, value)


def object_value(
    value_type: GraphQLOutputType,
    details: Any,
    collect_subfields: Callable[[GraphQLObjectType, Any], Any],
) -> ObjectValue | None:
    """How to complete a value of `value_type` asked with `details`, if it is one object
    (not a list, union or interface) with no @defer below it; else None. A list field's
    item type gives how to complete each of its items."""
    object_type = get_nullable_type(value_type)
    if not isinstance(object_type, GraphQLObjectType):
        return None
    try:  # graphql-core collects them when completing a value, inside the field's
        selection, deferred, _ = collect_subfields(object_type, details)
    except Exception:  # error handling: let it (a variable of @include given null)
        return None
    if deferred:
        return None
    return ObjectValue(object_type, not is_non_null_type(value_type), details, selection)


def field_without_arguments(
    schema: GraphQLSchema, parent_type: GraphQLObjectType, details: Any
) -> GraphQLField | None:
    """The field the details ask for, if it takes no arguments; else None."""
    first = details[0]
    node = first.node
    if node.arguments or first.fragment_variable_values is not None:
        return None
    field_def = schema.get_field(parent_type, node.name.value)
    if field_def is None or field_def.args:
        return None
    return field_def


def plain_field(
    schema: GraphQLSchema, parent_type: GraphQLObjectType, details: Any, with_viewer: bool
) -> PlainField | None:
    """How to read a plain field (see `execute_fields`), or None for any other."""
    field_def = field_without_arguments(schema, parent_type, details)
    if field_def is None:
        return None
    definition = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
    if definition is None or definition.default_resolver is not getattr:
        return None
    # no resolver of its own, no extension: strawberry's own test for the fields it
    # resolves without an Info (`_get_basic_result`); or, no resolver either, only
    # row rules that answer null (a silent permission), for a viewer at hand
    rules = () if definition.is_basic_field else row_rules(definition, with_viewer)
    if rules is None:
        return None
    nullable = not is_non_null_type(field_def.type)
    leaf = get_nullable_type(field_def.type)
    if not is_leaf_type(leaf):
        return None
    text = leaf in TEXT_TYPES
    coerce = (
        member_names(leaf) if isinstance(leaf, CustomGraphQLEnumType) else leaf.coerce_output_value
    )
    return definition.python_name, coerce, text, nullable, rules


def member_names(enum_type: CustomGraphQLEnumType) -> Callable[[Any], Any]:
    """strawberry's `coerce_output_value` of an enum, its answer for each member of the
    Python enum kept: strawberry looks for the member's value among the GraphQL values,
    one by one, every time. Anything else (a member of another enum, a plain value)
    goes to strawberry's each time, and fails there as it would."""
    coerce = enum_type.coerce_output_value
    member_type = enum_type.wrapped_cls
    names: dict[Any, Any] = {}

    def name_of(value: Any) -> Any:
        if type(value) is not member_type:
            return coerce(value)
        name = names.get(value)
        if name is None:
            name = names[value] = coerce(value)
        return name

    return name_of


def row_rules(definition: StrawberryField, with_viewer: bool) -> tuple[RowRule, ...] | None:
    """A field's rules if it has no resolver and its one extension is a silent
    permission of `RowRule`s only (nullable, not a list: it answers null), and the
    operation has a viewer (our Context); else None."""
    if definition.base_resolver is not None or not with_viewer:
        return None
    if len(definition.extensions) != 1:
        return None
    (extension,) = definition.extensions
    if (
        type(extension) is not PermissionExtension
        or not extension.fail_silently
        or extension.return_empty_list
    ):
        return None
    rules = [rule for rule in extension.permissions if isinstance(rule, RowRule)]
    return tuple(rules) if len(rules) == len(extension.permissions) else None


class OperationPlans:
    """The object plans of one operation node, kept for every operation that runs it,
    and freed with it. A cached document's nodes are the same objects in every operation
    that sends its text, so its plans live as long as the document cache keeps it; a
    document parsed for one request takes its plans with it.

    Kept only if `shareable`, which `selections_fixed` decides: a plan holds its nested
    objects' selections, which graphql-core collects with the operation's variables where
    `@include`, `@skip` or `@defer` read them, so a plan made for one operation could
    otherwise be wrong for the next. Within one node, a plan is keyed by what it is made
    of: the schema, the object type, the field nodes of each response name (by identity:
    the plan holds its selection, so they live as long as it) and whether the operation
    has a viewer."""

    __slots__ = ("_plans", "compiled", "shareable")

    def __init__(self, shareable: bool) -> None:
        self.shareable = shareable
        self._plans: dict[tuple[Any, ...], tuple[Any, ObjectPlan | None]] = {}
        # The operation's root fields as `compiled` writes them, by schema and role, each
        # beside the grouped field set they were compiled from (it holds what they hold).
        self.compiled: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    def __len__(self) -> int:
        return len(self._plans)

    def plan(
        self,
        schema: GraphQLSchema,
        parent_type: GraphQLObjectType,
        grouped_field_set: Any,
        with_viewer: bool,
        build: Callable[[], ObjectPlan | None],
    ) -> ObjectPlan | None:
        """The plan kept for this selection, or the one `build` makes (kept if
        `shareable`)."""
        if not self.shareable:
            return build()
        key = (
            schema,
            parent_type.name,
            with_viewer,
            *(
                (name, *[id(each.node) for each in details])
                for name, details in grouped_field_set.items()
            ),
        )
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = (grouped_field_set, build())
        return found[1]


# Each operation node's plans, by the node's identity (a node's own hash and equality walk
# its whole tree), dropped when the node is freed.
_PLANS_BY_OPERATION: dict[int, OperationPlans] = {}


def operation_plans(
    operation: OperationDefinitionNode, fragments: dict[str, Any]
) -> OperationPlans:
    """The plans kept for `operation` (its document's `fragments` beside it)."""
    key = id(operation)
    found = _PLANS_BY_OPERATION.get(key)
    if found is None:
        found = _PLANS_BY_OPERATION[key] = OperationPlans(selections_fixed(operation, fragments))
        weakref.finalize(operation, _PLANS_BY_OPERATION.pop, key, None)
    return found


def selections_fixed(operation: OperationDefinitionNode, fragments: dict[str, Any]) -> bool:
    """Whether what the operation selects is the same whatever its variables: no
    directive on it, on any of its selections or on any fragment it can reach (so no
    `@include`, `@skip` or `@defer`), and no fragment given arguments."""
    return not operation.directives and _without_directives([operation.selection_set], fragments)


def _without_directives(pending: list[SelectionSetNode], fragments: dict[str, Any]) -> bool:
    seen: set[str] = set()
    while pending:
        selections: Iterable[Any] = pending.pop().selections
        for selection in selections:
            if selection.directives:
                return False
            if isinstance(selection, FragmentSpreadNode):
                if getattr(selection, "arguments", None):
                    return False
                name = selection.name.value
                if name in seen or name not in fragments:
                    continue
                seen.add(name)
                definition = fragments[name].definition
                if definition.directives:
                    return False
                pending.append(definition.selection_set)
            elif selection.selection_set is not None:
                pending.append(selection.selection_set)
    return True
