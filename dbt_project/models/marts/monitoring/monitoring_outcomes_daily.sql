{#- Live outcomes of served offers per UTC day of serving, model version, tier, experiment arm
    and segment (the customer's card product): how many offers were shown, clicked and
    redeemed, and the rates. An outcome is counted on the day its offer was served, whenever
    the customer acted, so a recent day's rates still rise as late feedback lands. A shown
    offer counts once however many events cite it; as in `int_feedback_events_rolled_up`, a
    redemption implies a click. Missing labels (no experiment, a tier without a model) read
    'none', a customer without a customers row 'unknown'. -#}

with

shown as (

    select * from {{ ref('stg_events__ranking_log') }}

),

feedback as (

    select
        request_id,
        offer_id,
        max(case when kind in ('click', 'redeem') then 1 else 0 end) as clicked,
        max(case when kind = 'redeem' then 1 else 0 end) as redeemed

    from {{ ref('stg_events__feedback') }}
    where kind in ('click', 'redeem') and request_id is not null and offer_id is not null
    group by request_id, offer_id

),

customers as (

    select customer_id, card_product from {{ ref('stg_smartstack__customers') }}

),

outcomes as (

    select
        cast(shown.served_at as date) as served_on,
        coalesce(shown.model_name, 'none') as model_name,
        coalesce(shown.model_version, 'none') as model_version,
        coalesce(shown.tier, 'none') as tier,
        coalesce(shown.experiment, 'none') as experiment,
        coalesce(shown.arm, 'none') as arm,
        coalesce(customers.card_product, 'unknown') as segment,
        coalesce(feedback.clicked, 0) as clicked,
        coalesce(feedback.redeemed, 0) as redeemed

    from shown
    left join feedback
        on shown.request_id = feedback.request_id and shown.offer_id = feedback.offer_id
    left join customers on shown.customer_id = customers.customer_id

),

aggregated as (

    select
        served_on,
        model_name,
        model_version,
        tier,
        experiment,
        arm,
        segment,
        count(*) as shown,
        sum(clicked) as clicks,
        sum(redeemed) as redemptions

    from outcomes
    group by served_on, model_name, model_version, tier, experiment, arm, segment

),

final as (

    select
        *,
        cast(clicks as {{ dbt.type_float() }}) / shown as click_rate,
        cast(redemptions as {{ dbt.type_float() }}) / shown as redemption_rate

    from aggregated

)

select * from final
