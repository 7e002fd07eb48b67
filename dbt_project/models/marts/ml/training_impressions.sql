{#- The labelled training set: one row per impression with the offer's category and type, the
    time it was shown (`event_timestamp`, the point-in-time key for joining features) and its
    outcome. The labels are what happened after `event_timestamp`, up to the data's snapshot,
    so this table is the only one that looks forward; features joined to it never do. -#}

with

impressions as (

    select * from {{ ref('int_impressions_unioned') }}

),

offers as (

    select offer_id, merchant_category, offer_type from {{ ref('stg_smartstack__offers') }}

),

final as (

    select
        impressions.impression_id,
        impressions.request_id,
        impressions.customer_id,
        impressions.offer_id,
        offers.merchant_category,
        offers.offer_type,
        impressions.channel,
        impressions.position,
        impressions.shown_at as event_timestamp,
        impressions.outcome,
        case when impressions.outcome in ('viewed', 'clicked', 'redeemed') then 1 else 0 end
            as viewed,
        case when impressions.outcome in ('clicked', 'redeemed') then 1 else 0 end as clicked,
        case when impressions.outcome = 'redeemed' then 1 else 0 end as redeemed,
        case impressions.outcome
            when 'redeemed' then 3
            when 'clicked' then 2
            when 'viewed' then 1
            else 0
        end as relevance

    from impressions
    inner join offers
        on impressions.offer_id = offers.offer_id

)

select * from final
