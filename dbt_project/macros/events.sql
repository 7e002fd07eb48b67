{#- Whether an event table (`feedback`, `quiz_answers`, `consent_events`) has landed yet: DuckDB reads the
    table's Parquet folder (`SMARTSTACK_<TABLE>_DIR`), and `read_parquet` of a glob without files
    is an error; Spark is told by the var `landed_tables`; BigQuery reads the table of that name
    in the dataset, which exists only once the first load made it. At parse time (no database) it is true, so dbt always records the
    dependency on the source. A table kept elsewhere, or in subfolders (the ranking log's
    `date=YYYY-MM-DD/` parts), passes its `folder` and glob `pattern`. -#}
{% macro has_landed(table, folder=none, pattern='*.parquet') -%}
  {%- if not execute -%}
    {{ return(true) }}
  {%- elif target.type == 'duckdb' -%}
    {%- set folder = folder or landed_dir(table) -%}
    {%- set found = run_query("select count(*) from glob('" ~ folder ~ "/" ~ pattern ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
  {%- elif target.type == 'spark' -%}
    {#- Spark SQL cannot list a folder: `smartstack dbt` passes the landed tables it found. -#}
    {{ return(table in var('landed_tables', [])) }}
  {%- else -%}
    {%- set relation = adapter.get_relation(
        database=target.database, schema=target.schema, identifier=table) -%}
    {{ return(relation is not none) }}
  {%- endif -%}
{%- endmacro %}


{#- The Parquet folder of a landed event table on DuckDB: `SMARTSTACK_<TABLE>_DIR`, else the
    folder of that name beside the feedback table's (every landed table sits in the data
    folder), so a new table needs no new variable. Keep in step with the sources' locations. -#}
{% macro landed_dir(table) -%}
  {%- set feedback = env_var('SMARTSTACK_FEEDBACK_DIR', '../var/data/feedback') -%}
  {{ return(env_var('SMARTSTACK_' ~ table | upper ~ '_DIR', feedback ~ '/../' ~ table)) }}
{%- endmacro %}


{#- A non-negative integer id derived from a string: feedback impressions need bigint ids like
    the generated ones. The first 15 hex digits of the string's MD5 (60 bits), the same id on
    DuckDB and Spark, so both warehouses' marts agree row for row; collisions need ~1e9 distinct
    keys to become likely. -#}
{% macro stable_bigint(expression) -%}
  {{ return(adapter.dispatch('stable_bigint')(expression)) }}
{%- endmacro %}

{% macro default__stable_bigint(expression) -%}
  cast(('0x' || substr(md5({{ expression }}), 1, 15)) as bigint)
{%- endmacro %}

{% macro spark__stable_bigint(expression) -%}
  cast(conv(substr(md5({{ expression }}), 1, 15), 16, 10) as bigint)
{%- endmacro %}

{% macro bigquery__stable_bigint(expression) -%}
  abs(mod(farm_fingerprint({{ expression }}), 9223372036854775807))
{%- endmacro %}


{#- The ranking service's log on DuckDB (`SMARTSTACK_RANKING_LOG_DIR`: the `serving.snapshot_dir`
    setting, else `<home>/serving/snapshots`), one folder per UTC day. Keep in step with the
    source `events.ranking_log`. -#}
{% macro ranking_log_dir() -%}
  {{ return(env_var('SMARTSTACK_RANKING_LOG_DIR', '../var/serving/snapshots')) }}
{%- endmacro %}


{#- The rows of `relation` (a CTE) that come first in their partition: what `qualify
    row_number() over (…) = 1` says on DuckDB and BigQuery, written as a subquery because Spark
    has no QUALIFY. Spell out `nulls last` in `order_by`: ascending, DuckDB puts nulls last and
    Spark first. -#}
{% macro first_row_per(relation, partition_by, order_by) -%}
    select * except (row_in_partition)
    from (
        select
            *,
            row_number() over (partition by {{ partition_by }} order by {{ order_by }})
                as row_in_partition
        from {{ relation }}
    ) as numbered
    where row_in_partition = 1
{%- endmacro %}
