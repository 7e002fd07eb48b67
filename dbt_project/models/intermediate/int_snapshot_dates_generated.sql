{#- One row per as-of date (see the feature_snapshot_dates macro); features use only events
    strictly before `as_of`, i.e. on days before `as_of_day`. -#}
with

snapshot_dates as (

    {{ as_of_dates_select() }}

)

select * from snapshot_dates
