{#- Offer engagement per customer, offer category, offer type and as-of date over the 90 days
    before it: how often the customer was shown, viewed, clicked and redeemed offers of each kind.
    Events count on their own day, strictly before the as-of day. Sparse like the spend windows. -#}

with

events as (

    select * from {{ ref('int_impression_events_unpivoted') }}

),

offers as (

    select offer_id, merchant_category, offer_type from {{ ref('stg_smartstack__offers') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

windowed as (

    select
        events.customer_id,
        offers.merchant_category,
        offers.offer_type,
        snapshot_dates.as_of,
        snapshot_dates.as_of_day,
        sum(case when events.event_type = 'shown' then 1 else 0 end) as impressions_90d,
        sum(case when events.event_type = 'viewed' then 1 else 0 end) as views_90d,
        sum(case when events.event_type = 'clicked' then 1 else 0 end) as clicks_90d,
        sum(case when events.event_type = 'redeemed' then 1 else 0 end) as redemptions_90d

    from events
    inner join offers
        on events.offer_id = offers.offer_id
    inner join snapshot_dates
        on events.event_day < snapshot_dates.as_of_day
        and events.event_day >= snapshot_dates.as_of_day - 90
    group by
        events.customer_id,
        offers.merchant_category,
        offers.offer_type,
        snapshot_dates.as_of,
        snapshot_dates.as_of_day

)

select * from windowed
