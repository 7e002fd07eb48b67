{#- How much each customer leans to each merchant category, one row per customer, category and
    as-of date (dense: zeros where there was no activity, so a point-in-time join never falls
    back to an older, stale row). Spend shares and trend come from days strictly before the
    as-of date; offer engagement counts events in the 90 days before it. -#}
{%- set categories = var('merchant_categories') -%}

with

customers as (

    select customer_id from {{ ref('stg_smartstack__customers') }}

),

categories as (

    {% for category in categories %}
    select cast('{{ category }}' as {{ dbt.type_string() }}) as merchant_category
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

category_spend as (

    select * from {{ ref('int_customer_category_spend_windowed') }}

),

wallet as (

    select
        customer_id,
        as_of,
        sum(spend_30d) as spend_30d,
        sum(spend_90d) as spend_90d

    from category_spend
    group by customer_id, as_of

),

engagement as (

    select
        customer_id,
        merchant_category,
        as_of,
        sum(impressions_90d) as offer_impressions_90d,
        sum(clicks_90d) as offer_clicks_90d,
        sum(redemptions_90d) as offer_redemptions_90d

    from {{ ref('int_impression_events_windowed') }}
    group by customer_id, merchant_category, as_of

),

quiz as (

    select customer_id, as_of, favourite_category
    from {{ ref('int_quiz_responses_snapshotted') }}

),

spine as (

    select
        customers.customer_id,
        categories.merchant_category,
        snapshot_dates.as_of

    from customers
    cross join categories
    cross join snapshot_dates

),

final as (

    select
        spine.customer_id,
        spine.merchant_category,
        spine.as_of as event_timestamp,
        coalesce(category_spend.spend_30d, 0) as spend_30d,
        coalesce(category_spend.spend_90d, 0) as spend_90d,
        {{ as_count('coalesce(category_spend.txn_count_90d, 0)') }} as txn_count_90d,
        {{ safe_ratio('category_spend.spend_30d', 'wallet.spend_30d', '0.0') }} as share_30d,
        {{ safe_ratio('category_spend.spend_90d', 'wallet.spend_90d', '0.0') }} as share_90d,
        {{ spend_trend('category_spend.trend_recent_30d_spend',
                       'category_spend.trend_prior_90d_spend') }} as trend,
        {{ as_count('coalesce(engagement.offer_impressions_90d, 0)') }} as offer_impressions_90d,
        {{ as_count('coalesce(engagement.offer_clicks_90d, 0)') }} as offer_clicks_90d,
        {{ as_count('coalesce(engagement.offer_redemptions_90d, 0)') }} as offer_redemptions_90d,
        case when quiz.favourite_category = spine.merchant_category then 1 else 0 end
            as is_quiz_favourite

    from spine
    left join category_spend
        on spine.customer_id = category_spend.customer_id
        and spine.merchant_category = category_spend.merchant_category
        and spine.as_of = category_spend.as_of
    left join wallet
        on spine.customer_id = wallet.customer_id
        and spine.as_of = wallet.as_of
    left join engagement
        on spine.customer_id = engagement.customer_id
        and spine.merchant_category = engagement.merchant_category
        and spine.as_of = engagement.as_of
    left join quiz
        on spine.customer_id = quiz.customer_id
        and spine.as_of = quiz.as_of

)

select * from final
