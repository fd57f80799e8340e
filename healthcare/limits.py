"""Limits on what one GraphQL document may ask, the same over HTTP and WebSocket.

Each bounds an attack specific to GraphQL: huge documents (characters, checked before
anything parses them, then tokens), deep nesting (depth), the same expensive field under
many names (aliases, fragments included), the same field or directive repeated in one
selection (field duplication, directive overloading), and schema discovery where it is
not wanted (introspection). The values come from the settings (see README) when the app
starts. Parsed documents and their validation are cached, within bounds of entries and
of characters, so that distinct documents cannot grow the process without limit.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    parse,
)
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import validate_document


@dataclass(frozen=True)
class GraphQLLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_chars: int = 32 * 1024
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


def oversized_document(query: str | None, max_chars: int) -> GraphQLError | None:
    """The error for a document longer than `max_chars` characters, before anyone parses
    it: comments and white space cost the lexer as much as tokens do."""
    if query is None or len(query) <= max_chars:
        return None
    return GraphQLError(
        f"The document is {len(query)} characters long; at most {max_chars}.",
        extensions={"code": "GRAPHQL_PARSE_FAILED"},
    )


@dataclass
class _CachedDocument:
    document: DocumentNode
    # Validation errors by the validation rules they were found with.
    errors: dict[tuple[type[ASTValidationRule], ...], list[GraphQLError]] = field(
        default_factory=dict
    )


class DocumentCache:
    """Parsed documents and their validation errors, by document text, least recently
    used out first: at most `max_entries` documents and `max_chars` characters of
    document text in all. A parsed document takes about 100 bytes per character of its
    text (measured: a dense 32 KiB document parses to 3.2 MiB), so the defaults hold at
    most about 26 MiB, and a front end's few hundred operations of a kilobyte or two fit.
    strawberry's ParserCache and ValidationCache bound entries only."""

    def __init__(self, max_entries: int = 500, max_chars: int = 256 * 1024) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._entries: OrderedDict[tuple[str, int | None], _CachedDocument] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        return self._chars

    def document(self, query: str, max_tokens: int | None) -> _CachedDocument:
        """The parsed `query`; a parse error is raised, never kept."""
        key = (query, max_tokens)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        found = _CachedDocument(parse(query, max_tokens=max_tokens))
        if len(query) <= self.max_chars:
            self._entries[key] = found
            self._chars += len(query)
            self._evict()
        return found

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or self._chars > self.max_chars:
            (query, _), _ = self._entries.popitem(last=False)
            self._chars -= len(query)


class CachedDocuments(SchemaExtension):
    """Parse and validate through a `DocumentCache` shared by every operation."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache
        self._cached: _CachedDocument | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            max_tokens = context.parse_options.get("max_tokens")
            self._cached = self.cache.document(context.query, max_tokens)
            context.graphql_document = self._cached.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self._cached is not None:
            rules = tuple(context.validation_rules)
            errors = self._cached.errors.get(rules)
            if errors is None:
                errors = validate_document(context.schema._schema, self._cached.document, rules)
                self._cached.errors[rules] = errors
            context.pre_execution_errors = errors
        yield


def schema_extensions(cache: DocumentCache) -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds them per operation, so they read `current` then."""
    return [
        lambda: MaxTokensLimiter(max_token_count=current.max_tokens),
        lambda: AddValidationRules(list(validation_rules(current))),
        lambda: CachedDocuments(cache),
    ]
