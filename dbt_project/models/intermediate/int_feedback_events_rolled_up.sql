{#- Funnel feedback (impression, view, click, skip, redeem) rolled up to one row per
    impression: the request /rank answered and the offer in it. Shown at the first event of the
    impression; a click implies a view and a redemption both; a skip is an impression that went
    no further. Ratings are about explanations, not offers, and are left out. -#}

with

feedback as (

    select * from {{ ref('stg_events__feedback') }}
    where kind in ('impression', 'view', 'click', 'skip', 'redeem')
        and request_id is not null

),

rolled_up as (

    select
        request_id,
        customer_id,
        offer_id,
        min(channel) as channel,
        min(position) as position,
        min(occurred_at) as shown_at,
        min(case when kind in ('view', 'click', 'redeem') then occurred_at end) as viewed_at,
        min(case when kind in ('click', 'redeem') then occurred_at end) as clicked_at,
        min(case when kind = 'redeem' then occurred_at end) as redeemed_at

    from feedback
    group by request_id, customer_id, offer_id

),

final as (

    select
        *,
        case
            when redeemed_at is not null then 'redeemed'
            when clicked_at is not null then 'clicked'
            when viewed_at is not null then 'viewed'
            else 'shown'
        end as outcome

    from rolled_up

)

select * from final
