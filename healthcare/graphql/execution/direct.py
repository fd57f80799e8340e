"""Fields resolved by calling their function (or reading their attribute) behind
strawberry's own permission extensions, without strawberry's per-call argument conversion
and extension chain (`use_direct_resolvers`); and graphql-core's info behind strawberry's
(`raw_info`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, reduce
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.extensions.field_extension import build_field_extension_resolvers
from strawberry.permission import PermissionExtension
from strawberry.types import Info as StrawberryInfo
from strawberry.types.field import StrawberryField

from healthcare.graphql.execution.plans import STRAWBERRY_FIELD


def raw_info(info: StrawberryInfo[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's info behind strawberry's (strawberry keeps it private)."""
    return info._raw_info


def direct_resolver(
    definition: StrawberryField, info_class: type[StrawberryInfo[Any, Any]]
) -> Callable[..., Any] | None:
    """What strawberry's resolver wrapper ends in for a field without GraphQL arguments
    (strawberry converts those) whose resolver takes only its object (`self`, `root` or
    `parent`) and the info, or that has no resolver but a permission: the function called
    at once, or the permissions' own `resolve` (strawberry's `PermissionExtension`, in
    strawberry's order) and then the function or the attribute. None for a field that
    needs the wrapper (arguments, an extension other than a permission) and for a plain
    attribute (`execute_fields`')."""
    if definition.arguments or definition.is_subscription:
        return None
    extensions = definition.extensions
    if not all(type(extension) is PermissionExtension for extension in extensions):
        return None
    resolver = definition.base_resolver
    if resolver is None:
        if not extensions or definition.default_resolver is not getattr:
            return None
        name = definition.python_name

        def read(source: Any, info: StrawberryInfo[Any, Any]) -> Any:
            return getattr(source, name)

        return _after_permissions(definition, info_class, read)
    if not callable(resolver.wrapped_func):
        return None
    function = resolver.wrapped_func
    takes_self = resolver.self_parameter is not None
    source_names = tuple(
        parameter.name
        for parameter in (resolver.root_parameter, resolver.parent_parameter)
        if parameter is not None
    )
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None

    def call(source: Any, info: StrawberryInfo[Any, Any] | None) -> Any:
        keywords = dict.fromkeys(source_names, source)
        if info_name is not None:
            keywords[info_name] = info
        return function(source, **keywords) if takes_self else function(**keywords)

    if extensions:
        return _after_permissions(definition, info_class, call)

    def resolve(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        strawberry_info = info_class(_raw_info=info, _field=definition) if info_name else None
        return call(source, strawberry_info)

    return resolve


def _after_permissions(
    definition: StrawberryField,
    info_class: type[StrawberryInfo[Any, Any]],
    inner: Callable[[Any, StrawberryInfo[Any, Any]], Any],
) -> Callable[..., Any]:
    """`inner` behind the field's permissions, chained as strawberry chains them (the
    last extension outermost; `resolve_async` for an async field), without strawberry's
    argument conversion around each call."""
    chain = reduce(
        lambda chained, next_: partial(next_, chained),
        build_field_extension_resolvers(definition),
        inner,
    )

    def resolve(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return chain(source, info_class(_raw_info=info, _field=definition))

    return resolve


def use_direct_resolvers(schema: strawberry.Schema) -> list[str]:
    """Resolve every field `direct_resolver` allows directly: its permissions, then its
    function or attribute (graphql-core still builds the info, runs any middleware,
    completes the value and reports errors, as for any resolver). Not where the schema
    has exception handlers (strawberry wraps every resolver to apply them). The fields
    changed, as `Type.field`."""
    converter = schema.schema_converter
    info_class = schema.config.info_class
    changed = []
    for type_ in schema._schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field_def in type_.fields.items():
            definition = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
            if not isinstance(definition, StrawberryField):
                continue
            if converter._get_field_exception_handlers(definition):
                continue
            resolve = direct_resolver(definition, info_class)
            if resolve is not None and field_def.subscribe is None:
                field_def.resolve = resolve
                changed.append(f"{type_.name}.{name}")
    return changed
