"""The work behind each field: business rules, transactions, ORM access."""
