"""How reads of health data reach the audit trail: declared on the GraphQL types that hold
it, so that every path to them records the read without a resolver remembering to.

- `audited`, on a type: every object of it an operation returns is recorded as read,
  with the fields asked of it, once per operation (tests/test_audit_paths.py walks the
  schema to every audited type and proves it);
- `DeniedWhenNull`, on a lookup by id: a null answer is recorded as a refused attempt;
- `denied`: a refused operation or field (the permission classes call it).

The records are buffered in the operation's context and written by the trail's writer
(security.audit).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionNode,
    value_from_ast_untyped,
)
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension

from healthcare import failures, models
from healthcare.graphql.context import AnyInfo, Context
from healthcare.security import audit
from healthcare.validators import parse_id

# graphql-core's resolve info, as the GraphQL machinery sees it: its context is ours.
ResolveInfo = GraphQLResolveInfo[Context[Any]]

# Wrappers between a list field and its rows: the rows' fields are the ones read.
# (`messages`: a conversation's page of history, ChatMessagePage.)
CONNECTION_WRAPPERS = {"edges", "node", "nodes", "messages"}
CONNECTION_METADATA = {"pageInfo", "totalCount", "hasMore", "nextBeforeSeq", "__typename"}


def selected_fields(info: ResolveInfo) -> tuple[str, ...]:
    """The fields the operation asked of the objects a field returns, by name: one level
    below the field, or below `edges { node }` / `nodes` for a connection. Worked out once
    per field of the operation, not once per row of a list."""
    key = tuple(map(id, info.field_nodes))
    cache = info.context.read_fields
    cached = cache.get(key)
    if cached is None:
        cached = cache[key] = _selected_fields(info)
    return cached


def _selected_fields(info: ResolveInfo) -> tuple[str, ...]:
    # graphql-core 3.3 gives VariableValues, except to a subscription's events: a dict.
    given: Any = info.variable_values
    variables: dict[str, Any] = getattr(given, "coerced", given)
    return fields_asked(info.field_nodes, info.fragments, variables)


def fields_asked(
    field_nodes: Sequence[FieldNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> tuple[str, ...]:
    """`selected_fields` of a field asked by `field_nodes` (see there)."""
    fields: set[str] = set()
    pending = [
        selection
        for node in field_nodes
        if node.selection_set is not None
        for selection in node.selection_set.selections
    ]
    while pending:
        node = pending.pop()
        if not _included(node, variables):
            continue  # not executed, so not read
        if isinstance(node, FragmentSpreadNode):
            pending += fragments[node.name.value].selection_set.selections
        elif isinstance(node, InlineFragmentNode):
            pending += node.selection_set.selections
        elif isinstance(node, FieldNode):
            if node.name.value in CONNECTION_WRAPPERS and node.selection_set is not None:
                pending += node.selection_set.selections
            elif node.name.value not in CONNECTION_METADATA:
                fields.add(node.name.value)
    return tuple(sorted(fields))


def _included(node: SelectionNode, variables: dict[str, Any]) -> bool:
    """Whether `@skip` and `@include` (their variables given) let a selection run."""
    for directive in node.directives or ():
        if directive.name.value in SKIP_WHEN:
            condition = next(a.value for a in directive.arguments or () if a.name.value == "if")
            if (
                bool(value_from_ast_untyped(condition, variables))
                == SKIP_WHEN[directive.name.value]
            ):
                return False
    return True


# The value of `if` that leaves a selection out, by directive.
SKIP_WHEN = {"skip": True, "include": False}


C = TypeVar("C", bound=type)
# Whether a viewer gets a field's value for a row (see `audited`'s `apart`).
ReadRule = Callable[[models.User | None, Any], bool]
# The reads asking some fields of an object makes: (entity, by its value; fields read).
Reads = tuple[tuple[str, tuple[str, ...]], ...]
# Every type declared `audited`, with its entity (tests walk the schema to each of them).
AUDITED_TYPES: dict[type, models.AuditEntity] = {}
# How each audited type records the reads of its objects (`rows`: objects of the type, or
# ones with the attributes its declaration reads), asked `fields` (as `selected_fields`
# names them), in an operation's context: what `is_type_of` does, for executors that
# complete no object (graphql.execution.compiled).
RecordReads = Callable[[Context[Any], Iterable[Any], tuple[str, ...]], None]
READS_RECORDED: dict[type, RecordReads] = {}


def audited(
    entity: models.AuditEntity,
    patient: Callable[[Any], uuid.UUID | None],
    *,
    when: Callable[[Any, models.User | None], bool] = lambda row, viewer: True,
    apart: Mapping[str, tuple[models.AuditEntity, ReadRule]] | None = None,
) -> Callable[[C], C]:
    """Declare a GraphQL type as health data: every object of it an operation returns,
    by any path (a list, a lookup, a nested field, a mutation's payload, a pushed event),
    is recorded as read by the viewer, with the fields asked of it, once per operation.
    `patient` names the patient concerned; `when` narrows which objects, for a viewer,
    are health data (a user's profile is, when it is a patient's, read by someone else);
    `apart` names fields whose reads are recorded as another entity (a consultation's
    private notes, which the patient's view of the trail leaves out), each with the rule
    of who gets its value (others get null: asking is no read): a read of those alone
    (and the id) is not also a read of the type's entity.

        @strawberry.type
        @audited(models.AuditEntity.APPOINTMENT, patient=lambda a: a.patient_id)
        class Appointment: ...

    Apply it under `@strawberry.type`. It is the type's `is_type_of`, which graphql-core
    calls for every object of the type it completes (pinned by tests/test_execution.py).
    """

    separate = tuple(sorted((name, kept_as) for name, (kept_as, _) in (apart or {}).items()))
    read_rules = tuple((name, rule) for name, (_, rule) in (apart or {}).items())

    @functools.lru_cache(maxsize=1024)  # keyed by what clients select: bounded
    def read_plan(fields: tuple[str, ...]) -> tuple[tuple[tuple[str, ReadRule], ...], Reads]:
        """The rules of the fields asked that someone may be refused, and the reads that
        asking `fields` makes when none is refused."""
        ruled = tuple((name, rule) for name, rule in read_rules if name in fields)
        made = tuple((kept_as.value, names) for kept_as, names in reads(entity, fields, separate))
        return ruled, made

    def record_reads(context: Context[Any], rows: Iterable[Any], fields: tuple[str, ...]) -> None:
        viewer = context.viewer.user
        ruled, asked = read_plan(fields)
        made_reads: list[Read] = []
        for row in rows:
            if not when(row, viewer):
                continue
            made = asked
            if ruled:
                withheld = {name for name, may_read in ruled if not may_read(viewer, row)}
                if withheld:
                    made = read_plan(tuple(n for n in fields if n not in withheld))[1]
            patient_id = patient(row)
            for read_entity, read_fields in made:
                made_reads.append((read_entity, read_fields, row.id, patient_id))
        if made_reads:
            _record_reads(context, made_reads)

    def decorate(cls: C) -> C:
        def is_type_of(obj: Any, info: ResolveInfo) -> bool:
            if not isinstance(obj, cls):
                return False
            record_reads(info.context, (obj,), selected_fields(info))
            return True

        setattr(cls, "is_type_of", staticmethod(is_type_of))  # noqa: B010 (mypy: a new attribute)
        AUDITED_TYPES[cls] = entity
        READS_RECORDED[cls] = record_reads
        return cls

    return decorate


# Fields that say which object was read, not what of it.
NAMING_FIELDS = frozenset({"id", "__typename"})


def reads(
    entity: models.AuditEntity,
    fields: tuple[str, ...],
    apart: tuple[tuple[str, models.AuditEntity], ...],
) -> tuple[tuple[models.AuditEntity, tuple[str, ...]], ...]:
    """The reads that asking `fields` of an object of `entity` makes: of `entity`, and of
    each entity `apart` gives a field to (see `audited`)."""
    kept_apart = dict(apart)
    by_entity: dict[models.AuditEntity, tuple[str, ...]] = {}
    for name in fields:
        if name in kept_apart:
            by_entity[kept_apart[name]] = (*by_entity.get(kept_apart[name], ()), name)
    own = tuple(name for name in fields if name not in kept_apart)
    if not by_entity or set(own) - NAMING_FIELDS:
        return ((entity, own), *by_entity.items())
    return tuple(by_entity.items())


READ = models.AuditAction.READ.value


# One READ: the entity's name, the fields read, the row's id and its patient's.
Read = tuple[str, tuple[str, ...], Any, Any]


def _record_reads(context: Context[Any], made: list[Read]) -> None:
    """Buffer READs, at one moment, each unless this operation (or pushed event) recorded
    it already. A list's hundred reads come here at once: the actor is found and the
    clock read once, not per row."""
    who = context.reader
    if who is None or who.user is not context.viewer.user:  # the first read, or signed in since
        who = context.reader = audit.actor(context.viewer.user)
    at = datetime.now(UTC)
    seen, buffer = context.audited, context.audit_buffer
    for entity, fields, entity_id, patient_id in made:
        row_id = str(entity_id)
        key = (entity, row_id, fields)
        if key in seen:
            continue
        seen.add(key)
        buffer.append(audit.record_by(who, entity, READ, True, row_id, patient_id, fields, at))


def denied(
    info: AnyInfo,
    entity: models.AuditEntity = models.AuditEntity.OPERATION,
    entity_id: Any = None,
    patient_id: uuid.UUID | None = None,
) -> None:
    """Buffer a refused attempt: the field asked for, and the row when it is known. An id
    the client gave is recorded only if it is one (a UUID): never the client's text."""
    refused(info.context, info.field_name, entity, entity_id, patient_id)


def refused(
    context: Context[Any],
    field_name: str,
    entity: models.AuditEntity,
    entity_id: Any,
    patient_id: uuid.UUID | None = None,
) -> None:
    """`denied`, in an operation's context, of the field `field_name`."""
    context.audit_buffer.append(
        audit.record(
            context.viewer.user,
            entity,
            models.AuditAction.DENIED,
            False,
            parse_id(entity_id) if entity_id is not None else None,
            patient_id,
            [field_name],
        )
    )


# What a refused lookup (NotFoundError) was after, on the trail. Doctors and their
# schedules are a public directory: looking for one that is not there refuses nothing.
REFUSED_LOOKUPS = {
    "appointment": models.AuditEntity.APPOINTMENT,
    "consultation": models.AuditEntity.CONSULTATION,
    "conversation": models.AuditEntity.CONVERSATION,
    "notification": models.AuditEntity.NOTIFICATION,
    "user": models.AuditEntity.USER,
    "video call": models.AuditEntity.VIDEO_CALL,
}


def lookup_refused(info: AnyInfo, failure: failures.NotFoundError) -> None:
    """Buffer a refused attempt for a row asked for by id that the viewer may not see
    (or that does not exist: the same answer), by a mutation or a subscription."""
    entity = REFUSED_LOOKUPS.get(failure.what)
    if entity is not None:
        denied(info, entity, failure.row_id)


class DeniedWhenNull(FieldExtension):
    """On a lookup by `id` that answers null for a row the viewer may not see (or that
    does not exist: the same answer): records the refusal.

        @strawberry.field(extensions=[*allow(IsAuthenticated()), DeniedWhenNull(CONVERSATION)])
        async def conversation(self, info: Info, id: strawberry.ID) -> Conversation | None:
    """

    def __init__(self, entity: models.AuditEntity, argument: str = "id") -> None:
        self.entity = entity
        self.argument = argument  # the argument that holds the id asked for

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: AnyInfo, **kwargs: Any
    ) -> Any:
        found = await next_(source, info, **kwargs)
        if found is None:
            denied(info, self.entity, kwargs.get(self.argument))
        return found
