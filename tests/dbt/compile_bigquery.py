"""Compile the dbt project for the BigQuery target without credentials or network.

Run as a script (``python compile_bigquery.py full|incremental VARS``, VARS the JSON of
``smartstack.features.dbt.dbt_vars``) in the environment that
``smartstack.features.dbt.dbt_environment`` builds. dbt only talks to BigQuery to ask whether a
model's table exists (for ``is_incremental()``); that one call is answered here instead, "no"
for a first build and "yes, a table" for an incremental one, so both branches get compiled.
"""

from __future__ import annotations

import sys
from unittest import mock

from dbt.adapters.bigquery.impl import BigQueryAdapter
from dbt.cli.main import dbtRunner


def main(mode: str, variables: str) -> int:
    def get_relation(self: BigQueryAdapter, database: str, schema: str, identifier: str):
        if mode == "full":
            return None
        return self.Relation.create(database=database, schema=schema, identifier=identifier,
                                    type="table")

    with mock.patch.object(BigQueryAdapter, "get_relation", get_relation):
        result = dbtRunner().invoke(
            ["compile", "--target", "bigquery", "--no-populate-cache", "--select",
             "resource_type:model", "--vars", variables]
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
