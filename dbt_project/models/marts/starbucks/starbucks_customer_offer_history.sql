{#- How the member has responded to offers before each as-of date, one row per customer and
    as-of date: offers received, viewed, completed, succeeded (viewed, then completed) and
    completed without a view, overall and per offer type; rates; views of offers sent through
    social media; how fast they view; and how many earlier offers are still open (received,
    window not over, not completed) at the as-of date. Every event counts on its own day,
    strictly before the as-of date, so an outcome that comes later is not known yet. -#}
{%- set offer_types = var('starbucks_offer_types') -%}
{%- set steps = ['received', 'viewed', 'completed', 'succeeded'] -%}

with

customers as (

    select customer_id from {{ ref('stg_starbucks__customers') }}

),

as_of_dates as (

    select * from {{ ref('int_starbucks__as_of_dates') }}

),

events as (

    select * from {{ ref('int_starbucks__offer_events') }}

),

receipts as (

    select
        customer_id,
        expires_at,
        {{ day_number('received_at') }} as received_day,
        {{ day_number('completed_at') }} as completed_day

    from {{ ref('stg_starbucks__offer_receipts') }}

),

history as (

    select
        events.customer_id,
        as_of_dates.as_of,
        {% for step in steps + ['completed_unviewed'] %}
        sum(case when events.event_type = '{{ step }}' then 1 else 0 end) as offers_{{ step }},
        {% endfor %}
        {% for offer_type in offer_types %}
        {% for step in steps %}
        sum(case when events.event_type = '{{ step }}' and events.offer_type = '{{ offer_type }}'
            then 1 else 0 end) as {{ step }}_{{ offer_type }},
        {% endfor %}
        {% endfor %}
        sum(case when events.event_type = 'received' and events.is_completable = 1
            then 1 else 0 end) as completable_received,
        sum(case when events.event_type = 'received' and events.sent_by_social = 1
            then 1 else 0 end) as received_social,
        sum(case when events.event_type = 'viewed' and events.sent_by_social = 1
            then 1 else 0 end) as viewed_social,
        avg(case when events.event_type = 'viewed' then events.hours_to_view end)
            as mean_hours_to_view,
        max(case when events.event_type = 'received' then events.event_hour end)
            as last_received_hour

    from events
    inner join as_of_dates
        on events.event_day < as_of_dates.as_of_day
    group by events.customer_id, as_of_dates.as_of

),

open_offers as (

    select
        receipts.customer_id,
        as_of_dates.as_of,
        count(*) as open_offers

    from receipts
    inner join as_of_dates
        on receipts.received_day < as_of_dates.as_of_day
        and receipts.expires_at > as_of_dates.as_of
        and (receipts.completed_day is null or receipts.completed_day >= as_of_dates.as_of_day)
    group by receipts.customer_id, as_of_dates.as_of

),

spine as (

    select
        customers.customer_id,
        as_of_dates.as_of,
        as_of_dates.as_of_day

    from customers
    cross join as_of_dates

),

final as (

    select
        spine.customer_id,
        spine.as_of as event_timestamp,
        {% for step in steps + ['completed_unviewed'] %}
        {{ as_count('coalesce(history.offers_' ~ step ~ ', 0)') }} as offers_{{ step }},
        {% endfor %}
        {% for offer_type in offer_types %}
        {% for step in steps %}
        {{ as_count('coalesce(history.' ~ step ~ '_' ~ offer_type ~ ', 0)') }}
            as {{ step }}_{{ offer_type }},
        {% endfor %}
        {% endfor %}
        {{ as_count('coalesce(history.received_social, 0)') }} as received_social,
        {{ as_count('coalesce(history.viewed_social, 0)') }} as viewed_social,
        {{ as_count('coalesce(open_offers.open_offers, 0)') }} as open_offers,
        {{ safe_ratio('history.offers_viewed', 'history.offers_received') }} as view_rate,
        {{ safe_ratio('history.viewed_social', 'history.received_social') }} as social_view_rate,
        {{ safe_ratio('history.offers_completed', 'history.completable_received') }}
            as completion_rate,
        {{ safe_ratio('history.offers_succeeded', 'history.completable_received') }}
            as success_rate,
        -- Type focus: the share of BOGO among the member's successes (null without any).
        {{ safe_ratio('history.succeeded_bogo',
                      '(history.succeeded_bogo + history.succeeded_discount)') }}
            as bogo_success_share,
        history.mean_hours_to_view,
        spine.as_of_day * 24 - history.last_received_hour as hours_since_last_offer

    from spine
    left join history
        on spine.customer_id = history.customer_id
        and spine.as_of = history.as_of
    left join open_offers
        on spine.customer_id = open_offers.customer_id
        and spine.as_of = open_offers.as_of

)

select * from final
