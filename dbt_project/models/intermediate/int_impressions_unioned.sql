{#- Every labelled impression: the generated (or ingested) impressions plus those built from
    feedback events, so the weekly retraining learns from what customers did with served offers.
    A feedback impression already among the impressions (same request and offer) is not added
    twice, and feedback about customers or offers the data set does not know is left out. -#}

with

impressions as (

    select * from {{ ref('stg_smartstack__impressions') }}

),

from_feedback as (

    select * from {{ ref('int_feedback_events_rolled_up') }}

),

customers as (

    select customer_id from {{ ref('stg_smartstack__customers') }}

),

offers as (

    select offer_id from {{ ref('stg_smartstack__offers') }}

),

new_from_feedback as (

    select
        {{ stable_bigint("from_feedback.request_id || ':' || from_feedback.offer_id") }}
            as impression_id,
        {{ stable_bigint('from_feedback.request_id') }} as request_id,
        from_feedback.customer_id,
        from_feedback.offer_id,
        from_feedback.channel,
        from_feedback.position,
        from_feedback.shown_at,
        from_feedback.viewed_at,
        from_feedback.clicked_at,
        from_feedback.redeemed_at,
        from_feedback.outcome

    from from_feedback
    inner join customers
        on from_feedback.customer_id = customers.customer_id
    inner join offers
        on from_feedback.offer_id = offers.offer_id
    where not exists (
        select 1
        from impressions
        where cast(impressions.request_id as {{ dbt.type_string() }}) = from_feedback.request_id
            and impressions.offer_id = from_feedback.offer_id
    )

),

unioned as (

    select
        impression_id,
        request_id,
        customer_id,
        offer_id,
        channel,
        position,
        shown_at,
        viewed_at,
        clicked_at,
        redeemed_at,
        outcome
    from impressions

    union all

    select * from new_from_feedback

)

select * from unioned
