{#- Whether any feedback part has landed. BigQuery reads a table, which always exists; DuckDB
    reads the Parquet folder, and `read_parquet` of a glob without files is an error. At parse
    time (no database) it is true, so dbt always records the dependency on the source. -#}
{% macro feedback_has_landed() -%}
  {%- if not execute or target.type != 'duckdb' -%}
    {{ return(true) }}
  {%- endif -%}
  {%- set folder = env_var('SMARTSTACK_FEEDBACK_DIR', '../var/data/feedback') -%}
  {%- set found = run_query("select count(*) from glob('" ~ folder ~ "/*.parquet')") -%}
  {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}


{#- A 63-bit integer id derived from a string: feedback impressions need bigint ids like the
    generated ones. Collisions need ~3e9 distinct keys to become likely. -#}
{% macro stable_bigint(expression) -%}
  {{ return(adapter.dispatch('stable_bigint')(expression)) }}
{%- endmacro %}

{% macro default__stable_bigint(expression) -%}
  cast(hash({{ expression }}) % 9223372036854775807 as bigint)
{%- endmacro %}

{% macro bigquery__stable_bigint(expression) -%}
  abs(mod(farm_fingerprint({{ expression }}), 9223372036854775807))
{%- endmacro %}
