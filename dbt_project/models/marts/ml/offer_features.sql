{#- Offer features, one row per offer and as-of date: the offer's terms, whether it is live,
    and how customers have responded to it so far (events strictly before the as-of date).
    Raw rates are null before the first impression; smoothed rates shrink towards the all-offer
    rate with `rate_prior_strength` pseudo-impressions, so new offers get a usable estimate. -#}
{%- set outcomes = ['view', 'click', 'redemption'] -%}

with

offers as (

    select
        *,
        {{ day_number('valid_from') }} as valid_from_day,
        {{ day_number('valid_to') }} as valid_to_day

    from {{ ref('stg_smartstack__offers') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

daily_events as (

    select
        offer_id,
        event_day,
        sum(case when event_type = 'shown' then 1 else 0 end) as impressions,
        sum(case when event_type = 'viewed' then 1 else 0 end) as views,
        sum(case when event_type = 'clicked' then 1 else 0 end) as clicks,
        sum(case when event_type = 'redeemed' then 1 else 0 end) as redemptions

    from {{ ref('int_impression_events_unpivoted') }}
    group by offer_id, event_day

),

history as (

    select
        daily_events.offer_id,
        snapshot_dates.as_of,
        sum(daily_events.impressions) as impressions,
        sum(daily_events.views) as views,
        sum(daily_events.clicks) as clicks,
        sum(daily_events.redemptions) as redemptions

    from daily_events
    inner join snapshot_dates
        on daily_events.event_day < snapshot_dates.as_of_day
    group by daily_events.offer_id, snapshot_dates.as_of

),

overall as (

    select
        as_of,
        {{ safe_ratio('sum(views)', 'sum(impressions)', '0.0') }} as view_rate,
        {{ safe_ratio('sum(clicks)', 'sum(impressions)', '0.0') }} as click_rate,
        {{ safe_ratio('sum(redemptions)', 'sum(impressions)', '0.0') }} as redemption_rate

    from history
    group by as_of

),

final as (

    select
        offers.offer_id,
        snapshot_dates.as_of as event_timestamp,
        offers.merchant_category,
        offers.offer_type,
        offers.offer_value,
        offers.min_spend,
        -- The offer's worth on a common 0..1 scale so that points, percent-off and cash-back
        -- offers compare: 5x points, 25% off, or cash back of a quarter of the minimum spend.
        least(
            case offers.offer_type
                when 'points' then offers.offer_value / 5.0
                when 'discount' then offers.offer_value / 25.0
                else offers.offer_value / greatest(offers.min_spend, 1.0) / 0.25
            end,
            1.0
        ) as value_score,
        {{ as_count(
            "length(offers.eligible_card_products)"
            ~ " - length(replace(offers.eligible_card_products, ',', '')) + 1"
        ) }} as eligible_card_products_count,
        case
            when offers.valid_from <= snapshot_dates.as_of
                and snapshot_dates.as_of < offers.valid_to then 1
            else 0
        end as is_valid,
        snapshot_dates.as_of_day - offers.valid_from_day as days_since_valid_from,
        offers.valid_to_day - snapshot_dates.as_of_day as days_to_expiry,
        {{ as_count('coalesce(history.impressions, 0)') }} as impressions_count,
        {{ as_count('coalesce(history.views, 0)') }} as views_count,
        {{ as_count('coalesce(history.clicks, 0)') }} as clicks_count,
        {{ as_count('coalesce(history.redemptions, 0)') }} as redemptions_count,
        {% for outcome in outcomes %}
        {%- set count = 'history.' ~ {'view': 'views', 'click': 'clicks',
                                      'redemption': 'redemptions'}[outcome] %}
        {{ safe_ratio(count, 'history.impressions') }} as {{ outcome }}_rate,
        {{ smoothed_rate(count, 'history.impressions', 'overall.' ~ outcome ~ '_rate') }}
            as {{ outcome }}_rate_smoothed{{ ',' if not loop.last }}
        {% endfor %}

    from offers
    cross join snapshot_dates
    left join history
        on offers.offer_id = history.offer_id
        and snapshot_dates.as_of = history.as_of
    left join overall
        on snapshot_dates.as_of = overall.as_of

)

select * from final
