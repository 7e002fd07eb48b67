{#- Customer spend features, one row per customer and as-of date (`event_timestamp`), wide
    columns per merchant category and window. Built from days strictly before the as-of date.
    Conventions for empty windows: spends and counts 0; shares 0 (no wallet, no share);
    trends as in the spend_trend macro; average ticket and recency null (undefined). One as-of
    date at a time (per_as_of_date). -#}
{%- set categories = var('merchant_categories') -%}
{%- set windows = var('spend_windows') -%}

with

customers as {{ not_materialized() }} (

    select customer_id from {{ ref('stg_smartstack__customers') }}

),

snapshot_dates as {{ not_materialized() }} (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

category_spend as {{ not_materialized() }} (

    select * from {{ ref('int_customer_category_spend_windowed') }}

),

final as (

    {% call(one_date) per_as_of_date('snapshot_dates') %}
    select
        customers.customer_id,
        as_of_date.as_of as event_timestamp,
        {% for category in categories %}
        {% for window in windows %}
        {%- set spend = 'pivoted.spend_' ~ category ~ '_' ~ window ~ 'd' %}
        coalesce({{ spend }}, 0) as spend_{{ category }}_{{ window }}d,
        {{ as_count('coalesce(pivoted.txn_count_' ~ category ~ '_' ~ window ~ 'd, 0)') }}
            as txn_count_{{ category }}_{{ window }}d,
        {{ safe_ratio(spend, 'pivoted.spend_' ~ window ~ 'd', '0.0') }}
            as share_{{ category }}_{{ window }}d,
        {% endfor %}
        {{ spend_trend('pivoted.trend_recent_' ~ category, 'pivoted.trend_prior_' ~ category) }}
            as trend_{{ category }},
        {% endfor %}
        as_of_date.as_of_day - pivoted.last_txn_day as days_since_last_txn,
        {% for window in windows %}
        {{ as_count('coalesce(pivoted.txn_count_' ~ window ~ 'd, 0)') }} as txn_count_{{ window }}d,
        coalesce(pivoted.spend_{{ window }}d, 0) as spend_{{ window }}d,
        {{ safe_ratio('pivoted.spend_' ~ window ~ 'd', 'pivoted.txn_count_' ~ window ~ 'd') }}
            as avg_ticket_{{ window }}d{{ ',' if not loop.last }}
        {% endfor %}

    from customers
    cross join {{ one_date }} as as_of_date
    left join (

        select
            customer_id,
            as_of,
            {% for category in categories %}
            {% for window in windows %}
            sum(case when merchant_category = '{{ category }}'
                then spend_{{ window }}d else 0 end) as spend_{{ category }}_{{ window }}d,
            sum(case when merchant_category = '{{ category }}'
                then txn_count_{{ window }}d else 0 end) as txn_count_{{ category }}_{{ window }}d,
            {% endfor %}
            sum(case when merchant_category = '{{ category }}'
                then trend_recent_30d_spend else 0 end) as trend_recent_{{ category }},
            sum(case when merchant_category = '{{ category }}'
                then trend_prior_90d_spend else 0 end) as trend_prior_{{ category }},
            {% endfor %}
            {% for window in windows %}
            sum(spend_{{ window }}d) as spend_{{ window }}d,
            sum(txn_count_{{ window }}d) as txn_count_{{ window }}d,
            {% endfor %}
            max(last_txn_day) as last_txn_day

        from category_spend
        where as_of in (select as_of from {{ one_date }})
        group by customer_id, as_of

    ) as pivoted
        on customers.customer_id = pivoted.customer_id
        and as_of_date.as_of = pivoted.as_of
    {% endcall %}

)

select * from final
