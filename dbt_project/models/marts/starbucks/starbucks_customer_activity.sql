{#- Purchases before each as-of date, one row per customer and as-of date: counts and spend over
    the whole history and the last 3/7/14/30 days, ticket size (mean, median, 75th percentile,
    largest), hours since the last purchase and active days. Only days strictly before the
    as-of date count. `history_days` is how much history exists at all (0 at the start), and
    the per-day rates are null until there is some. -#}
{%- set windows = var('starbucks_spend_windows') -%}

with

customers as (

    select customer_id from {{ ref('stg_starbucks__customers') }}

),

as_of_dates as (

    select * from {{ ref('int_starbucks__as_of_dates') }}

),

transactions as (

    select
        customer_id,
        amount,
        {{ day_number('transacted_at') }} as txn_day,
        {{ hour_number('transacted_at') }} as txn_hour

    from {{ ref('stg_starbucks__transactions') }}

),

history as (

    select
        transactions.customer_id,
        as_of_dates.as_of,
        count(*) as txn_count_all,
        sum(transactions.amount) as spend_all,
        {% for window in windows %}
        sum(case when transactions.txn_day >= as_of_dates.as_of_day - {{ window }}
            then 1 else 0 end) as txn_count_{{ window }}d,
        sum(case when transactions.txn_day >= as_of_dates.as_of_day - {{ window }}
            then transactions.amount else 0 end) as spend_{{ window }}d,
        {% endfor %}
        {{ quantile_of('transactions.amount', 0.5) }} as ticket_median,
        {{ quantile_of('transactions.amount', 0.75) }} as ticket_p75,
        max(transactions.amount) as ticket_max,
        max(transactions.txn_hour) as last_txn_hour,
        count(distinct transactions.txn_day) as active_days

    from transactions
    inner join as_of_dates
        on transactions.txn_day < as_of_dates.as_of_day
    group by transactions.customer_id, as_of_dates.as_of

),

spine as (

    select
        customers.customer_id,
        as_of_dates.as_of,
        as_of_dates.as_of_day,
        as_of_dates.as_of_day - {{ start_day() }} as history_days

    from customers
    cross join as_of_dates

),

final as (

    select
        spine.customer_id,
        spine.as_of as event_timestamp,
        spine.history_days,
        {{ as_count('coalesce(history.txn_count_all, 0)') }} as txn_count_all,
        coalesce(history.spend_all, 0) as spend_all,
        {% for window in windows %}
        {{ as_count('coalesce(history.txn_count_' ~ window ~ 'd, 0)') }}
            as txn_count_{{ window }}d,
        coalesce(history.spend_{{ window }}d, 0) as spend_{{ window }}d,
        {% endfor %}
        {{ safe_ratio('history.spend_all', 'history.txn_count_all') }} as avg_ticket,
        history.ticket_median,
        history.ticket_p75,
        history.ticket_max,
        spine.as_of_day * 24 - history.last_txn_hour as hours_since_last_txn,
        {{ as_count('coalesce(history.active_days, 0)') }} as active_days,
        {{ safe_ratio('coalesce(history.spend_all, 0)', 'spine.history_days') }} as spend_per_day,
        {{ safe_ratio('coalesce(history.txn_count_all, 0)', 'spine.history_days') }}
            as txn_per_day

    from spine
    left join history
        on spine.customer_id = history.customer_id
        and spine.as_of = history.as_of

)

select * from final
