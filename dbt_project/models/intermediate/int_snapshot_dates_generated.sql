{#- One row per as-of date (see the feature_snapshot_dates macro); features use only events
    strictly before `as_of`, i.e. on days before `as_of_day`. -#}
{%- set snapshot_dates = feature_snapshot_dates() -%}

with

snapshot_dates as (

    {% for row in snapshot_dates %}
    select
        cast('{{ row.as_of }} 00:00:00' as {{ dbt.type_timestamp() }}) as as_of,
        cast({{ row.as_of_day }} as {{ dbt.type_int() }}) as as_of_day
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from snapshot_dates
