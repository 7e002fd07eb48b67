{#- Spend per customer, merchant category and UTC day: the grain every spend window is summed
    from, about as many rows as transactions at 0.5 purchases a day but with integer days that
    make windows cheap range conditions. Incremental: a run re-aggregates only the trailing
    `incremental_lookback_days` of days already loaded plus anything newer. -#}
{{
    config(
        materialized='incremental',
        unique_key=['customer_id', 'merchant_category', 'txn_day'],
        incremental_strategy=target_incremental_strategy(),
        partition_by=incremental_partition_by('txn_day'),
        on_schema_change='fail',
    )
}}

with

transactions as (

    select
        customer_id,
        merchant_category,
        amount,
        {{ day_number('transacted_at') }} as txn_day

    from {{ ref('stg_smartstack__transactions') }}

),

daily as (

    select
        customer_id,
        merchant_category,
        txn_day,
        sum(amount) as spend,
        count(*) as txn_count

    from transactions
    {% if is_incremental() %}
    where {{ incremental_day_filter('txn_day') }}
    {% endif %}
    group by customer_id, merchant_category, txn_day

)

select * from daily
