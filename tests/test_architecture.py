"""The shape of the code, held: what the import contracts (`lint-imports`) cannot see.

- The schema reaches rows only through the domain services: it never queries a model, so
  that every root field goes through a visibility rule (resolvers.visibility).
- strawberry's and graphql-core's internals are touched in graphql/execution/ only.
- Every mutation turns expected failures into its result union the one way
  (`graphql.errors.mutation`), and no field declares another type than it returns.
"""

import ast
from pathlib import Path

import pytest

from healthcare.graphql.errors import ExpectedFailures
from healthcare.schema import Mutation

PACKAGE = Path(__file__).resolve().parent.parent / "healthcare"
SCHEMA_MODULES = sorted((PACKAGE / "schema").glob("*.py"))
EXECUTION = PACKAGE / "graphql" / "execution"  # the package
# What a model's manager offers for reading or writing rows.
QUERIES = {
    "all",
    "filter",
    "exclude",
    "get",
    "get_or_none",
    "first",
    "create",
    "bulk_create",
    "update_or_create",
    "get_or_create",
    "select_for_update",
    "raw",
}
# Modules and attributes that are strawberry's or graphql-core's own business.
INTERNAL_MODULES = ("strawberry.schema.schema", "graphql.execution", "graphql.type.definition")
INTERNAL_ATTRIBUTES = {"_schema", "_raw_info", "_process_errors"}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def name_of(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("module", SCHEMA_MODULES, ids=[m.stem for m in SCHEMA_MODULES])
def test_the_schema_never_queries_a_model_itself(module: Path):
    direct = [
        f"{name_of(module)}:{node.lineno} models.{node.value.attr}.{node.attr}"
        for node in ast.walk(tree(module))
        if isinstance(node, ast.Attribute)
        and node.attr in QUERIES
        and isinstance(node.value, ast.Attribute)
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "models"
    ]
    assert direct == [], "go through resolvers.visibility or a domain service"


def test_only_the_execution_package_touches_framework_internals():
    touched = []
    for module in sorted(PACKAGE.rglob("*.py")):
        if module.is_relative_to(EXECUTION):
            continue
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                INTERNAL_MODULES
            ):
                touched.append(f"{name_of(module)}:{node.lineno} imports {node.module}")
            if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
                touched.append(f"{name_of(module)}:{node.lineno} uses .{node.attr}")
    assert touched == []


def test_the_rules_above_see_what_they_look_for():
    """Each rule finds what it forbids where it is allowed, so none passes by seeing
    nothing."""
    execution = [tree(module) for module in sorted(EXECUTION.glob("*.py"))]
    assert any(
        isinstance(node, ast.Attribute) and node.attr == "_schema"
        for module in execution
        for node in ast.walk(module)
    )
    resolvers = tree(PACKAGE / "resolvers" / "appointments.py")
    assert any(
        isinstance(node, ast.Attribute)
        and node.attr == "filter"
        and isinstance(node.value, ast.Attribute)
        and getattr(node.value.value, "id", None) == "models"
        for node in ast.walk(resolvers)
    )


def test_every_mutation_returns_its_expected_failures_through_one_extension():
    definition = Mutation.__strawberry_definition__  # type: ignore[attr-defined]
    without = [
        field.name
        for field in definition.fields
        if not any(isinstance(extension, ExpectedFailures) for extension in field.extensions)
    ]
    assert definition.fields
    assert without == []


@pytest.mark.parametrize("module", SCHEMA_MODULES, ids=[m.stem for m in SCHEMA_MODULES])
def test_no_field_declares_another_type_than_its_signature(module: Path):
    declared = [
        f"{name_of(module)}:{node.lineno}"
        for node in ast.walk(tree(module))
        if isinstance(node, ast.keyword) and node.arg == "graphql_type"
    ]
    assert declared == []
