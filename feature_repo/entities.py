"""Entities: pseudonymous keys only. Direct identifiers never enter the feature store."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A card member, by pseudonymous id (CUST-…); no name, email or card number.",
    tags={"pii": "pseudonymous"},
)

offer = Entity(
    name="offer",
    join_keys=["offer_id"],
    value_type=ValueType.STRING,
    description="An offer of the catalogue.",
)
