"""Limits on what one GraphQL document may ask, the same over HTTP and WebSocket.

Each bounds an attack specific to GraphQL: deep nesting (depth), the same expensive field
under many names (aliases, fragments included), huge documents (tokens), the same field
or directive repeated in one selection (field duplication, directive overloading), and
schema discovery where it is not wanted (introspection). The values come from the
settings (see README) when the app starts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)


@dataclass
class GraphQLLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_repeats: int = 5
    introspection: bool = True


# Set once by create_app from the settings; the schema is one per process, so are these.
current = GraphQLLimits()


def repeated_selections_rule(max_repeats: int) -> type[ValidationRule]:
    class NoRepeatedSelections(ValidationRule):
        """The same response key, or the same directive, at most `max_repeats` times."""

        def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> None:
            keys = Counter(
                (selection.alias or selection.name).value
                for selection in node.selections
                if isinstance(selection, FieldNode)
            )
            for key, count in keys.items():
                if count > max_repeats:
                    self.report_error(
                        GraphQLError(
                            f"Field '{key}' is selected {count} times; at most {max_repeats}.",
                            node,
                        )
                    )

        def _check_directives(self, node: Any) -> None:
            names = Counter(directive.name.value for directive in node.directives or ())
            for name, count in names.items():
                if count > max_repeats:
                    self.report_error(
                        GraphQLError(
                            f"Directive '@{name}' is repeated {count} times; "
                            f"at most {max_repeats}.",
                            node,
                        )
                    )

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            self._check_directives(node)

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            self._check_directives(node)

        def enter_inline_fragment(self, node: InlineFragmentNode, *_: Any) -> None:
            self._check_directives(node)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            self._check_directives(node)

    return NoRepeatedSelections


class _NoLimit(SchemaExtension):
    """Stands in for a switched-off limit."""


def _introspection() -> SchemaExtension:
    return _NoLimit() if current.introspection else DisableIntrospection()


def schema_extensions() -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds them per operation, so they read `current` then."""
    return [
        lambda: MaxTokensLimiter(max_token_count=current.max_tokens),
        lambda: QueryDepthLimiter(max_depth=current.max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=current.max_aliases),
        lambda: AddValidationRules([repeated_selections_rule(current.max_repeats)]),
        _introspection,
    ]
