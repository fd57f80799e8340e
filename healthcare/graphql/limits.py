"""Limits on what one GraphQL document may ask, the same over HTTP and WebSocket.

Each bounds an attack specific to GraphQL: huge documents (characters, checked before
anything parses them, then tokens), deep nesting (depth), the same expensive field under
many names (aliases, fragments included), the same field or directive repeated in one
selection (field duplication, directive overloading), and schema discovery where it is
not wanted (introspection). The values come from the settings (see README) when the app
starts. (Parsed documents and their validation are cached, within bounds of entries and
of characters: graphql.execution.DocumentCache.)
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

from healthcare.config import Settings


@dataclass(frozen=True)
class GraphQLLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_chars: int = 32 * 1024
    max_repeats: int = 5
    introspection: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> GraphQLLimits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_tokens=settings.max_query_tokens,
            max_chars=settings.max_query_chars,
            max_repeats=settings.max_repeated_selections,
            introspection=settings.introspection,
        )


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


def oversized_document(query: str | None, max_chars: int) -> GraphQLError | None:
    """The error for a document longer than `max_chars` characters, before anyone parses
    it: comments and white space cost the lexer as much as tokens do."""
    if query is None or len(query) <= max_chars:
        return None
    return GraphQLError(
        f"The document is {len(query)} characters long; at most {max_chars}.",
        extensions={"code": "GRAPHQL_PARSE_FAILED"},
    )


def schema_extensions(limits: GraphQLLimits) -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds extensions per operation."""
    rules = list(validation_rules(limits))
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
    ]
