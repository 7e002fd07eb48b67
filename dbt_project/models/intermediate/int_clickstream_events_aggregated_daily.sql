{#- App and web activity per customer and UTC day; incremental like the transactions. -#}
{{
    config(
        materialized='incremental',
        unique_key=['customer_id', 'event_day'],
        incremental_strategy=target_incremental_strategy(),
        partition_by=incremental_partition_by('event_day'),
        on_schema_change='fail',
    )
}}

with

events as (

    select
        customer_id,
        event_name,
        {{ day_number('occurred_at') }} as event_day

    from {{ ref('stg_smartstack__clickstream_events') }}

),

daily as (

    select
        customer_id,
        event_day,
        count(*) as events,
        sum(case when event_name = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_name = 'view_search_results' then 1 else 0 end) as searches,
        sum(case when event_name = 'view_promotion' then 1 else 0 end) as promotion_views,
        sum(case when event_name = 'select_promotion' then 1 else 0 end) as promotion_selects

    from events
    {% if is_incremental() %}
    where {{ incremental_day_filter('event_day') }}
    {% endif %}
    group by customer_id, event_day

)

select * from daily
