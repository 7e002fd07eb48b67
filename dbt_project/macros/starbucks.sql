{#- Helpers of the Starbucks models (models/*/starbucks): whole hours, the data set's start and
    end from the `impression_start` and `snapshot` vars, and quantiles. -#}

{#- Whole hours since 1970-01-01 (UTC): the Starbucks transcript counts time in hours. -#}
{% macro hour_number(timestamp_expression) -%}
  {{ dbt.datediff("cast('1970-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")",
                  "cast(" ~ timestamp_expression ~ " as " ~ dbt.type_timestamp() ~ ")", "hour") }}
{%- endmacro %}


{#- A timestamp var (ISO 8601 with an offset) as a UTC timestamp literal. -#}
{% macro var_timestamp(name) -%}
  {%- set moment = modules.datetime.datetime.fromisoformat(var(name)) -%}
  {%- if moment.tzinfo is not none -%}
    {%- set moment = moment.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
  {%- endif -%}
  cast('{{ moment.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- The first day of the data set (the day of `impression_start`), as a day number. -#}
{% macro start_day() -%}
  {%- set start = modules.datetime.datetime.fromisoformat(var('impression_start')) -%}
  {{ return((start.date() - modules.datetime.date(1970, 1, 1)).days) }}
{%- endmacro %}


{#- The q-quantile of a numeric expression within a group (linear interpolation on DuckDB,
    BigQuery's approximate quantiles in hundredths). -#}
{% macro quantile_of(expression, q) -%}
  {{ return(adapter.dispatch('quantile_of')(expression, q)) }}
{%- endmacro %}

{% macro default__quantile_of(expression, q) -%}
  quantile_cont({{ expression }}, {{ q }})
{%- endmacro %}

{% macro spark__quantile_of(expression, q) -%}
  percentile({{ expression }}, {{ q }})
{%- endmacro %}

{% macro bigquery__quantile_of(expression, q) -%}
  approx_quantiles({{ expression }}, 100)[offset({{ (q * 100) | round | int }})]
{%- endmacro %}
