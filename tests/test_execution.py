"""What the API relies on in strawberry's and graphql-core's execution, pinned: an upgrade
that changes it fails here, by name, rather than somewhere downstream."""

import asyncio

import strawberry
from graphql import GraphQLResolveInfo


def test_graphql_core_asks_is_type_of_for_every_object_it_completes_with_the_fields_info():
    """audit.audited records reads in a type's is_type_of: it must be called once per
    object returned, by any field, lists included, with that field's info."""
    seen: list[tuple[str, str]] = []

    @strawberry.type
    class Leaf:
        id: str

        @staticmethod
        def is_type_of(obj: object, info: GraphQLResolveInfo) -> bool:
            seen.append((getattr(obj, "id", "?"), info.field_name))
            return isinstance(obj, Leaf)

    @strawberry.type
    class Query:
        @strawberry.field
        def one(self) -> Leaf:
            return Leaf(id="a")

        @strawberry.field
        def many(self) -> list[Leaf]:
            return [Leaf(id="b"), Leaf(id="c")]

        @strawberry.field
        async def later(self) -> Leaf | None:
            await asyncio.sleep(0)
            return Leaf(id="d")

    schema = strawberry.Schema(query=Query)
    result = asyncio.run(schema.execute("{ one { id } many { id } later { id } }"))
    assert result.errors is None
    assert sorted(seen) == [("a", "one"), ("b", "many"), ("c", "many"), ("d", "later")]
