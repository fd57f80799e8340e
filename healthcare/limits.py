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
from functools import cache
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
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)


@dataclass(frozen=True)
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


@cache
def validation_rules(limits: GraphQLLimits) -> tuple[type[ASTValidationRule], ...]:
    """The rules for `limits`, built once: the validation cache is keyed by the rule
    classes, so new classes for each operation would make it miss every time."""
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        repeated_selections_rule(limits.max_repeats),
    ]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


def schema_extensions() -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds them per operation, so they read `current` then."""
    return [
        lambda: MaxTokensLimiter(max_token_count=current.max_tokens),
        lambda: AddValidationRules(list(validation_rules(current))),
    ]
