{#- Who the customer is and how they respond to offers, one row per customer and as-of date.
    Everything counts only what happened strictly before the as-of date: tenure is measured to
    it, offer engagement and app activity are the 90 and 30 days before it, and the quiz answer
    is the latest one given before it. No direct identifier ever reaches this table. -#}
{%- set offer_types = var('offer_types') -%}

with

customers as (

    select
        customer_id,
        card_product,
        age_band,
        region,
        {{ day_number('signed_up_on') }} as signed_up_day

    from {{ ref('stg_smartstack__customers') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

engagement as (

    select
        customer_id,
        as_of,
        sum(impressions_90d) as offer_impressions_90d,
        sum(views_90d) as offer_views_90d,
        sum(clicks_90d) as offers_clicked_90d,
        sum(redemptions_90d) as redemptions_90d,
        {% for offer_type in offer_types %}
        sum(case when offer_type = '{{ offer_type }}' then clicks_90d else 0 end)
            as {{ offer_type }}_clicks_90d,
        sum(case when offer_type = '{{ offer_type }}' then redemptions_90d else 0 end)
            as {{ offer_type }}_redemptions_90d{{ ',' if not loop.last }}
        {% endfor %}

    from {{ ref('int_impression_events_windowed') }}
    group by customer_id, as_of

),

activity as (

    select
        daily.customer_id,
        snapshot_dates.as_of,
        count(*) as active_days_30d,
        sum(page_views) as page_views_30d,
        sum(searches) as searches_30d,
        sum(promotion_views) as promotion_views_30d,
        sum(promotion_selects) as promotion_selects_30d

    from {{ ref('int_clickstream_events_aggregated_daily') }} as daily
    inner join snapshot_dates
        on daily.event_day < snapshot_dates.as_of_day
        and daily.event_day >= snapshot_dates.as_of_day - 30
    group by daily.customer_id, snapshot_dates.as_of

),

quiz as (

    select * from {{ ref('int_quiz_responses_snapshotted') }}

),

customer_snapshots as (

    select
        customers.customer_id,
        customers.card_product,
        customers.age_band,
        customers.region,
        snapshot_dates.as_of,
        snapshot_dates.as_of_day,
        -- Completed average-length months; 0 for a signup date after the as-of date.
        cast(floor(greatest(snapshot_dates.as_of_day - customers.signed_up_day, 0) / 30.4375)
            as {{ dbt.type_int() }}) as tenure_months

    from customers
    cross join snapshot_dates

),

final as (

    select
        customer_snapshots.customer_id,
        customer_snapshots.as_of as event_timestamp,
        customer_snapshots.card_product,
        customer_snapshots.age_band,
        customer_snapshots.region,
        customer_snapshots.tenure_months,
        case when customer_snapshots.tenure_months < 12 then 1 else 0 end as is_new_customer,
        {{ as_count('coalesce(engagement.offer_impressions_90d, 0)') }} as offer_impressions_90d,
        {{ as_count('coalesce(engagement.offer_views_90d, 0)') }} as offer_views_90d,
        {{ as_count('coalesce(engagement.offers_clicked_90d, 0)') }} as offers_clicked_90d,
        {{ as_count('coalesce(engagement.redemptions_90d, 0)') }} as redemptions_90d,
        {% for offer_type in offer_types %}
        {{ as_count('coalesce(engagement.' ~ offer_type ~ '_redemptions_90d, 0)') }}
            as {{ offer_type }}_redemptions_90d,
        {% endfor %}
        -- Reward-versus-discount focus: the share of points offers among redemptions (and,
        -- being denser, among clicks); null without any redemption (or click).
        {{ safe_ratio('engagement.points_redemptions_90d', 'engagement.redemptions_90d') }}
            as points_redemption_share,
        {{ safe_ratio('engagement.points_clicks_90d', 'engagement.offers_clicked_90d') }}
            as points_click_share,
        {{ safe_ratio('engagement.offers_clicked_90d', 'engagement.offer_impressions_90d') }}
            as offer_click_rate_90d,
        {{ as_count('coalesce(activity.active_days_30d, 0)') }} as active_days_30d,
        {{ as_count('coalesce(activity.page_views_30d, 0)') }} as page_views_30d,
        {{ as_count('coalesce(activity.searches_30d, 0)') }} as searches_30d,
        {{ as_count('coalesce(activity.promotion_views_30d, 0)') }} as promotion_views_30d,
        {{ as_count('coalesce(activity.promotion_selects_30d, 0)') }} as promotion_selects_30d,
        case when quiz.customer_id is null then 0 else 1 end as has_quiz,
        quiz.favourite_category as quiz_favourite_category,
        case
            when quiz.reward_preference = 'rewards' then 1
            when quiz.reward_preference = 'discounts' then 0
        end as quiz_prefers_rewards,
        case
            when quiz.is_planning_travel then 1
            when not quiz.is_planning_travel then 0
        end as quiz_planning_travel,
        customer_snapshots.as_of_day - quiz.answered_day as days_since_quiz

    from customer_snapshots
    left join engagement
        on customer_snapshots.customer_id = engagement.customer_id
        and customer_snapshots.as_of = engagement.as_of
    left join activity
        on customer_snapshots.customer_id = activity.customer_id
        and customer_snapshots.as_of = activity.as_of
    left join quiz
        on customer_snapshots.customer_id = quiz.customer_id
        and customer_snapshots.as_of = quiz.as_of

)

select * from final
