{#- The spark warehouse (target `spark`, dbt-spark's `session` method): the landed Parquet is read
    in place, as external tables over the sources' folders (`spark_location` in the sources'
    meta; `{name}` is the table's name). Run before every invocation (on-run-start), because
    each run may find more landed tables and more Parquet parts than the metastore knows. An
    event table that has not landed yet is left unregistered and its staging model is empty
    (has_landed). `merge_schema` reads parts written under older contracts by name, as DuckDB's
    `union_by_name`; `recursive` reads parts in subfolders without taking their names for
    partition columns (the ranking log's `date=YYYY-MM-DD/`). -#}
{% macro register_spark_sources() -%}
  {%- if execute and target.type == 'spark' -%}
    {%- for node in graph.sources.values() if node.meta.get('spark_location') -%}
      {%- if node.source_name != 'events' or has_landed(node.name) -%}
        {%- set location = node.meta['spark_location'] | replace('{name}', node.name) -%}
        {%- set table = node.schema ~ '.' ~ node.identifier -%}
        {%- do run_query('create database if not exists ' ~ node.schema) -%}
        {%- do run_query('drop table if exists ' ~ table) -%}
        {%- do run_query(
            'create table ' ~ table ~ ' using parquet options ('
            ~ "mergeSchema 'true', recursiveFileLookup '"
            ~ ('true' if node.meta.get('spark_recursive') else 'false') ~ "')"
            ~ " location '" ~ location ~ "'") -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro %}


{#- The incremental models' strategy on Spark replaces whole days: dbt-spark's merge needs Delta
    tables, and these are Parquet. Each model partitions by its day column, so an increment
    rewrites only the days it recomputes (the trailing `incremental_lookback_days`). None
    elsewhere. -#}
{% macro incremental_partition_by(day_column) -%}
  {{ return([day_column] if target.type == 'spark' else none) }}
{%- endmacro %}


{#- Where a table with a `location_root` (the feature marts) keeps its Parquet parts on Spark:
    `<location_root>/<model>.parquet/`, the path DuckDB's mart file has. Every reader of the
    marts (the quality gates, Feast's sources, training) opens the same path on either
    warehouse, a file there and a folder here. Overrides dbt-spark's `<location_root>/<model>`. -#}
{% macro spark__location_clause() -%}
  {%- set location_root = config.get('location_root', validator=validation.any[basestring]) -%}
  {%- if location_root is not none %}
    location '{{ location_root }}/{{ model['alias'] }}.parquet'
  {%- endif %}
{%- endmacro %}
