{#- The as-of dates of the Starbucks features: every `feature_interval_days` (1 for this data set)
    from its start through the end of its data. Offers are sent at whole days since the start
    (hours 0, 168, 336, 408, 504, 576), so each send has an as-of date equal to its own time,
    built from events strictly before it. -#}
with

as_of_dates as (

    {{ as_of_dates_select() }}

)

select * from as_of_dates
