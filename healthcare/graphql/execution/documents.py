"""Parsing and validation cached within bounds, shared by every operation."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document


@dataclass
class _CachedDocument:
    document: DocumentNode
    # Validation errors by the validation rules they were found with.
    errors: dict[tuple[type[ASTValidationRule], ...], list[GraphQLError]] = field(
        default_factory=dict
    )

    def validation_errors(
        self, schema: GraphQLSchema, rules: tuple[type[ASTValidationRule], ...]
    ) -> list[GraphQLError]:
        """The document's errors against `rules`, found once per set of rules."""
        errors = self.errors.get(rules)
        if errors is None:
            errors = self.errors[rules] = validate_document(schema, self.document, rules)
        return errors


class DocumentCache:
    """Parsed documents and their validation errors, by document text, least recently
    used out first: at most `max_entries` documents and `max_chars` characters of
    document text in all. A parsed document takes about 100 bytes per character of its
    text (measured: a dense 32 KiB document parses to 3.2 MiB), so the defaults hold at
    most about 26 MiB, and a front end's few hundred operations of a kilobyte or two fit.
    strawberry's ParserCache and ValidationCache bound entries only. The object plans of
    a cached document's operations (`plans.OperationPlans`) live as long as its nodes,
    uncounted here: a few per object selection, each a few hundred bytes."""

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
            context.pre_execution_errors = self._cached.validation_errors(
                context.schema._schema, tuple(context.validation_rules)
            )
        yield
