{#- The Starbucks offer portfolio as the ranking service reads it through Feast: each offer's
    terms in the platform's catalogue shape (the reward is the value; no card restriction and no
    catalogue end: each receipt has its own window of `duration_days`), known from the day the
    portfolio starts. -#}
with

offers as (

    select * from {{ ref('stg_starbucks__offers') }}

),

final as (

    select
        offer_id,
        valid_from as event_timestamp,
        headline,
        merchant_category,
        offer_type,
        reward as offer_value,
        min_spend,
        duration_days,
        valid_from,
        cast(null as {{ dbt.type_timestamp() }}) as valid_to,
        cast(null as {{ dbt.type_string() }}) as eligible_card_products

    from offers

)

select * from final
