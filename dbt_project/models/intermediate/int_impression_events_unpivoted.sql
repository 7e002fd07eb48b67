{#- Each impression outcome as its own timestamped event (shown, viewed, clicked, redeemed).
    An impression row changes as outcomes arrive, but its events never do: counting events by
    their own time is what keeps a redemption after an as-of date out of that date's features,
    and it makes the model append-only, hence incremental. -#}
{{
    config(
        materialized='incremental',
        unique_key=['impression_id', 'event_type'],
        incremental_strategy=target_incremental_strategy(),
        partition_by=incremental_partition_by('event_day'),
        on_schema_change='fail',
    )
}}

with

impressions as (

    select * from {{ ref('stg_smartstack__impressions') }}

),

events as (

    select impression_id, customer_id, offer_id, 'shown' as event_type, shown_at as occurred_at
    from impressions

    union all

    select impression_id, customer_id, offer_id, 'viewed' as event_type, viewed_at as occurred_at
    from impressions
    where viewed_at is not null

    union all

    select impression_id, customer_id, offer_id, 'clicked' as event_type, clicked_at as occurred_at
    from impressions
    where clicked_at is not null

    union all

    select
        impression_id, customer_id, offer_id, 'redeemed' as event_type, redeemed_at as occurred_at
    from impressions
    where redeemed_at is not null

),

dated as (

    select
        impression_id,
        event_type,
        customer_id,
        offer_id,
        occurred_at,
        {{ day_number('occurred_at') }} as event_day

    from events

)

select * from dated
{% if is_incremental() %}
where {{ incremental_day_filter('event_day') }}
{% endif %}
