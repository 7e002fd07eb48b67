{#- Spend and purchase counts per customer, merchant category and as-of date over each window in
    `spend_windows`, plus the two trend inputs (the last 30 days and the 90 days before them).
    Only days strictly before the as-of day count. Sparse: a row exists only where the customer
    spent in the category during the 120-day lookback; marts fill the gaps with zeros.
    One as-of date at a time (per_as_of_date): all dates at once spill past DuckDB's limit. -#}
{%- set windows = var('spend_windows') -%}
{%- set lookback = [windows | max, 120] | max -%}

with

daily as {{ not_materialized() }} (

    select * from {{ ref('int_transactions_aggregated_daily') }}

),

snapshot_dates as {{ not_materialized() }} (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

windowed as (

    {% call(one_date) per_as_of_date('snapshot_dates') %}
    select
        daily.customer_id,
        daily.merchant_category,
        as_of_date.as_of,
        as_of_date.as_of_day,
        {% for window in windows %}
        sum(case when daily.txn_day >= as_of_date.as_of_day - {{ window }}
            then daily.spend else 0 end) as spend_{{ window }}d,
        sum(case when daily.txn_day >= as_of_date.as_of_day - {{ window }}
            then daily.txn_count else 0 end) as txn_count_{{ window }}d,
        {% endfor %}
        sum(case when daily.txn_day >= as_of_date.as_of_day - 30
            then daily.spend else 0 end) as trend_recent_30d_spend,
        sum(case when daily.txn_day < as_of_date.as_of_day - 30
            and daily.txn_day >= as_of_date.as_of_day - 120
            then daily.spend else 0 end) as trend_prior_90d_spend,
        max(daily.txn_day) as last_txn_day

    from daily
    inner join {{ one_date }} as as_of_date
        on daily.txn_day < as_of_date.as_of_day
        and daily.txn_day >= as_of_date.as_of_day - {{ lookback }}
    group by
        daily.customer_id,
        daily.merchant_category,
        as_of_date.as_of,
        as_of_date.as_of_day
    {% endcall %}

)

select * from windowed
