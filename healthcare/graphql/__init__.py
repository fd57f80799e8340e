"""The GraphQL machinery: the context, loaders, errors, limits, pagination, field rules,
how reads reach the audit trail, and the one module that touches strawberry's and
graphql-core's internals (`execution`). It knows no domain: the schema wires it."""
