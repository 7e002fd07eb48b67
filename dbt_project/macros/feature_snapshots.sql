{#-
  The as-of dates that every feature table is computed at.

  Training impressions span the whole impression window, so a feature must be known as it was at
  many moments, not only at the end: one row per entity and as-of date lets Feast join each
  impression to the latest row at or before it. Dates run every `feature_interval_days` from the
  first day of the impression window and always include the snapshot (rounded up to midnight,
  so that "strictly before the as-of date" still covers every event).
-#}
{% macro feature_snapshot_dates() %}
  {%- set datetime = modules.datetime -%}
  {%- set start = datetime.datetime.fromisoformat(var('impression_start')) -%}
  {%- set end = datetime.datetime.fromisoformat(var('snapshot')) -%}
  {%- set first = start.date() -%}
  {%- set last = end.date() if end.time() == datetime.time(0) else end.date() + datetime.timedelta(days=1) -%}
  {%- set step = var('feature_interval_days') | int -%}
  {%- if step < 1 or last < first -%}
    {{ exceptions.raise_compiler_error("need feature_interval_days >= 1 and impression_start <= snapshot") }}
  {%- endif -%}
  {%- set epoch = datetime.date(1970, 1, 1) -%}
  {%- set dates = [] -%}
  {%- for offset in range(0, (last - first).days + 1, step) -%}
    {%- do dates.append(first + datetime.timedelta(days=offset)) -%}
  {%- endfor -%}
  {%- if dates[-1] != last -%}
    {%- do dates.append(last) -%}
  {%- endif -%}
  {%- set rows = [] -%}
  {%- for day in dates -%}
    {%- do rows.append({'as_of': day.isoformat(), 'as_of_day': (day - epoch).days}) -%}
  {%- endfor -%}
  {{ return(rows) }}
{% endmacro %}


{#- The as-of dates of feature_snapshot_dates() as a query, one row each: `as_of` (midnight,
    a timestamp) and `as_of_day` (its day number). Both data sets' date models select it, so
    they share one definition of the dates every feature row is computed at. -#}
{% macro as_of_dates_select() -%}
  {%- for row in feature_snapshot_dates() %}
    select
        cast('{{ row.as_of }} 00:00:00' as {{ dbt.type_timestamp() }}) as as_of,
        cast({{ row.as_of_day }} as {{ dbt.type_int() }}) as as_of_day
    {% if not loop.last %}union all{% endif %}
  {%- endfor %}
{%- endmacro %}


{#-
  The model's query once per as-of date, the copies joined by `union all`.

  The customer × as-of date aggregations hold every group of every date at once when they run
  over all dates together: 8.9 million groups at 100,000 customers, which DuckDB spills past its
  memory limit (3× the time), and at 1,000,000 customers more than the disk holds. One date at a
  time an aggregation holds one date's groups. Each copy gets the name of a query with its
  dates: `dates` numbered by `as_of_day`; the copy for date k selects row k, the last copy every
  row from its number on, so a dates table with more rows than the dates of
  feature_snapshot_dates() (the grid this model was compiled for) still loses none. A copy may
  thus hold several dates (all of them on Spark: as_of_date_copies), and its query must group
  and join by `as_of`.
  Use it as a call block: {% call(one_date) per_as_of_date('snapshot_dates') %} … {% endcall %}.
-#}
{% macro per_as_of_date(dates) -%}
  {%- set count = as_of_date_copies() -%}
  {%- for index in range(1, count + 1) %}
    {%- set comparison = '>=' if loop.last else '=' -%}
    {%- set one_date -%}
      (
        select as_of, as_of_day
        from (
            select as_of, as_of_day, row_number() over (order by as_of_day) as as_of_index
            from {{ dates }}
        ) as numbered_dates
        where as_of_index {{ comparison }} {{ index }}
      )
    {%- endset %}
    select * from (
        {{ caller(one_date) }}
    ) as as_of_date_{{ index }}
    {% if not loop.last %}union all{% endif %}
  {%- endfor %}
{%- endmacro %}


{#- How many copies per_as_of_date makes: one per as-of date where the warehouse holds a
    query's aggregation groups in memory (DuckDB). Spark shuffles and spills a query's groups
    across its executors by itself, and a plan of unioned copies costs it every copy's stages
    (at 500 customers, on local[2], the affinity mart took 18.7 s in copies and 3.9 s as one
    query), so it gets one copy that selects every date. A copy's query therefore joins its
    parts on `as_of` as well as on their keys. -#}
{% macro as_of_date_copies() -%}
  {{ return(adapter.dispatch('as_of_date_copies')()) }}
{%- endmacro %}

{% macro default__as_of_date_copies() -%}
  {{ return(feature_snapshot_dates() | length) }}
{%- endmacro %}

{% macro spark__as_of_date_copies() -%}
  {{ return(1) }}
{%- endmacro %}


{#- Written after `<name> as` of an import CTE that per_as_of_date's copies read: DuckDB
    materializes a CTE read more than once, a whole copy of the table held in memory (at
    100,000 customers the affinity mart took 26 s instead of 11 s, in twice the memory). The
    hint keeps it a view; other warehouses have no such hint and need none. -#}
{% macro not_materialized() -%}
  {{ return(adapter.dispatch('not_materialized')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}
{%- endmacro %}

{% macro duckdb__not_materialized() -%}
  not materialized
{%- endmacro %}


{#- Whole days since 1970-01-01 (UTC): integer day arithmetic keeps every window the same
    in DuckDB, BigQuery and Spark, where date and timestamp types do not mix. A 64-bit integer
    on each (Spark's datediff is 32-bit), so the marts' day columns have one type. -#}
{% macro day_number(timestamp_expression) -%}
  cast({{ dbt.datediff("cast('1970-01-01' as date)", "cast(" ~ timestamp_expression ~ " as date)", "day") }}
    as {{ dbt.type_bigint() }})
{%- endmacro %}


{#- The week of a UTC timestamp as engagement numbers it (smartstack.engagement.state
    .week_number in zone UTC): ISO weeks, Monday to Sunday, numbered (ordinal of the Monday - 1)
    // 7 so that consecutive weeks are consecutive integers across years. Day 0 (1970-01-01) is
    a Thursday, three days into week 102737, hence the shift. -#}
{% macro week_number(timestamp_expression) -%}
  (cast(floor(({{ day_number(timestamp_expression) }} + 3) / 7.0) as {{ dbt.type_bigint() }}) + 102737)
{%- endmacro %}


{#- numerator / denominator, or `otherwise` when the denominator is zero or null. -#}
{% macro safe_ratio(numerator, denominator, otherwise='null') -%}
  case
    when coalesce({{ denominator }}, 0) = 0 then {{ otherwise }}
    else cast({{ numerator }} as {{ type_double() }}) / {{ denominator }}
  end
{%- endmacro %}


{#- A rate shrunk towards a prior rate: `successes` out of `trials`, plus `rate_prior_strength`
    pseudo-trials at `prior_rate`. With no trials it is the prior rate; with many, the raw
    rate. Null successes, trials or prior rate count as 0 (nothing seen yet). -#}
{% macro smoothed_rate(successes, trials, prior_rate) -%}
  {%- set strength = var('rate_prior_strength') -%}
  (coalesce({{ successes }}, 0) + {{ strength }} * coalesce({{ prior_rate }}, 0.0))
      / (coalesce({{ trials }}, 0) + {{ strength }})
{%- endmacro %}


{#- The incremental strategy of the target: delete+insert on DuckDB, merge on BigQuery (both
    replace rows by the unique key), insert_overwrite of whole days on Spark
    (incremental_partition_by). -#}
{% macro target_incremental_strategy() -%}
  {%- set strategies = {'bigquery': 'merge', 'spark': 'insert_overwrite'} -%}
  {{ return(strategies.get(target.type, 'delete+insert')) }}
{%- endmacro %}


{#- Rows from the trailing `incremental_lookback_days` of what is already loaded, by day. -#}
{% macro incremental_day_filter(day_column) -%}
  {{ day_column }} >= (
    select coalesce(max({{ day_column }}), 0) - {{ var('incremental_lookback_days') }}
    from {{ this }}
  )
{%- endmacro %}


{#-
  Spend trend: spend in the last 30 days against the monthly average of the 90 days before them.
  1.0 means unchanged, 3.0 "three times more than usual". Null-safe by definition:
  - no spend before, none now: null (no signal either way);
  - no spend before, some now: the cap (new spending is the strongest rise we report);
  - otherwise the ratio, capped at `trend_cap` so one tiny prior purchase cannot explode it.
-#}
{% macro spend_trend(recent_30d, prior_90d) -%}
  {%- set cap = "cast(" ~ var('trend_cap') ~ " as " ~ type_double() ~ ")" -%}
  case
    when coalesce({{ prior_90d }}, 0) > 0
      then least({{ recent_30d }} / ({{ prior_90d }} / 3.0), {{ cap }})
    when coalesce({{ recent_30d }}, 0) > 0 then {{ cap }}
  end
{%- endmacro %}


{#- A 64-bit float: dbt.type_float() is a 32-bit REAL on DuckDB, too coarse for money. -#}
{% macro type_double() -%}
  {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
  {{ return('double') }}
{%- endmacro %}

{% macro bigquery__type_double() -%}
  {{ return('float64') }}
{%- endmacro %}


{#- A count as a 64-bit integer: DuckDB sums integers into HUGEINT, which Parquet stores as a
    double. -#}
{% macro as_count(expression) -%}
  cast({{ expression }} as {{ dbt.type_bigint() }})
{%- endmacro %}
