{#- Each step of each offer receipt as its own timestamped event: received, viewed, completed,
    succeeded (completed after a view: the success the model predicts) and completed_unviewed
    (completed with no view before it). Counting events at their own time keeps an outcome that
    happens after an as-of date out of that date's features. -#}
with

receipts as (

    select * from {{ ref('stg_starbucks__offer_receipts') }}

),

offers as (

    select offer_id, offer_type, is_completable, sent_by_social
    from {{ ref('stg_starbucks__offers') }}

),

events as (

    select impression_id, 'received' as event_type, received_at as occurred_at,
        cast(null as {{ type_double() }}) as hours_to_view
    from receipts

    union all

    select impression_id, 'viewed' as event_type, viewed_at as occurred_at,
        cast({{ hour_number('viewed_at') }} - {{ hour_number('received_at') }}
            as {{ type_double() }}) as hours_to_view
    from receipts
    where viewed_at is not null

    union all

    select impression_id, 'completed' as event_type, completed_at as occurred_at,
        cast(null as {{ type_double() }}) as hours_to_view
    from receipts
    where completed_at is not null

    union all

    select impression_id, 'succeeded' as event_type, redeemed_at as occurred_at,
        cast(null as {{ type_double() }}) as hours_to_view
    from receipts
    where redeemed_at is not null

    union all

    select impression_id, 'completed_unviewed' as event_type, completed_at as occurred_at,
        cast(null as {{ type_double() }}) as hours_to_view
    from receipts
    where completed_at is not null and redeemed_at is null

),

enriched as (

    select
        events.impression_id,
        events.event_type,
        receipts.customer_id,
        receipts.offer_id,
        offers.offer_type,
        offers.is_completable,
        offers.sent_by_social,
        events.occurred_at,
        {{ day_number('events.occurred_at') }} as event_day,
        {{ hour_number('events.occurred_at') }} as event_hour,
        events.hours_to_view

    from events
    inner join receipts
        on events.impression_id = receipts.impression_id
    inner join offers
        on receipts.offer_id = offers.offer_id

)

select * from enriched
