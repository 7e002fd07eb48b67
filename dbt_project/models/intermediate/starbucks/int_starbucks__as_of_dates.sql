{#- The as-of dates of the Starbucks features: every `feature_interval_days` (1 for this data set)
    from its start through the end of its data. Offers are sent at whole days since the start
    (hours 0, 168, 336, 408, 504, 576), so each send has an as-of date equal to its own time,
    built from events strictly before it. -#}
{%- set snapshot_dates = feature_snapshot_dates() -%}

with

as_of_dates as (

    {% for row in snapshot_dates %}
    select
        cast('{{ row.as_of }} 00:00:00' as {{ dbt.type_timestamp() }}) as as_of,
        cast({{ row.as_of_day }} as {{ dbt.type_int() }}) as as_of_day
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from as_of_dates
