"""GraphQL API for a healthcare appointment system."""
