{#- Offer engagement per customer, offer category, offer type and as-of date over the 90 days
    before it: how often the customer was shown, viewed, clicked and redeemed offers of each kind.
    Events count on their own day, strictly before the as-of day. Sparse like the spend windows, and
    like them computed one as-of date at a time. -#}

with

events as {{ not_materialized() }} (

    select * from {{ ref('int_impression_events_unpivoted') }}

),

offers as {{ not_materialized() }} (

    select offer_id, merchant_category, offer_type from {{ ref('stg_smartstack__offers') }}

),

snapshot_dates as {{ not_materialized() }} (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

windowed as (

    {% call(one_date) per_as_of_date('snapshot_dates') %}
    select
        events.customer_id,
        offers.merchant_category,
        offers.offer_type,
        as_of_date.as_of,
        as_of_date.as_of_day,
        sum(case when events.event_type = 'shown' then 1 else 0 end) as impressions_90d,
        sum(case when events.event_type = 'viewed' then 1 else 0 end) as views_90d,
        sum(case when events.event_type = 'clicked' then 1 else 0 end) as clicks_90d,
        sum(case when events.event_type = 'redeemed' then 1 else 0 end) as redemptions_90d

    from events
    inner join offers
        on events.offer_id = offers.offer_id
    inner join {{ one_date }} as as_of_date
        on events.event_day < as_of_date.as_of_day
        and events.event_day >= as_of_date.as_of_day - 90
    group by
        events.customer_id,
        offers.merchant_category,
        offers.offer_type,
        as_of_date.as_of,
        as_of_date.as_of_day
    {% endcall %}

)

select * from windowed
