{#- The labelled Starbucks rows: one per offer received, keyed like the synthetic
    `training_impressions` (event_timestamp = the send time, the point-in-time key) and with the
    two labels and what evaluation needs. Labels look forward from the send, features never do.

    - `redeemed` (label A): viewed, then completed within the offer's window. A completion
      without a view, or before it, is not a success; informational offers never succeed.
    - `completed` (label B): completed within the window, viewed or not; meaningful only where
      `completable` (BOGO and discount offers).
    - `censored`: the window ends after the data do (the snapshot), so the label may be cut off.
    - `relevance`: 0 received, 1 viewed, 3 viewed and completed (no click stage here). -#}
with

receipts as (

    select * from {{ ref('stg_starbucks__offer_receipts') }}

),

offers as (

    select offer_id, offer_type, is_completable from {{ ref('stg_starbucks__offers') }}

),

customers as (

    select customer_id, gender, age, income from {{ ref('stg_starbucks__customers') }}

),

final as (

    select
        receipts.impression_id,
        receipts.impression_id as request_id,
        receipts.customer_id,
        receipts.offer_id,
        offers.offer_type,
        cast(null as {{ dbt.type_string() }}) as channel,
        1 as position,
        receipts.received_at as event_timestamp,
        receipts.expires_at,
        {{ hour_number('receipts.received_at') }} - {{ start_day() }} * 24 as send_hour,
        receipts.outcome,
        case when receipts.viewed_at is not null then 1 else 0 end as viewed,
        0 as clicked,
        case when receipts.outcome = 'redeemed' then 1 else 0 end as redeemed,
        case when receipts.completed_at is not null then 1 else 0 end as completed,
        offers.is_completable as completable,
        case when receipts.expires_at > {{ var_timestamp('snapshot') }} then 1 else 0 end
            as censored,
        case
            when customers.gender is null and customers.age is null and customers.income is null
                then 'incomplete'
            else 'complete'
        end as profile,
        case receipts.outcome when 'redeemed' then 3 when 'viewed' then 1 else 0 end
            as relevance

    from receipts
    inner join offers
        on receipts.offer_id = offers.offer_id
    inner join customers
        on receipts.customer_id = customers.customer_id

)

select * from final
