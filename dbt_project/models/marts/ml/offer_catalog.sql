{#- The offer catalogue as the ranking service reads it through Feast: every offer's terms (what
    explanations quote), validity window and eligible card products, known from the moment the
    offer is valid. One row per offer; a rebuild replaces the catalogue whole, so an offer taken
    out of the raw table leaves it. -#}
with

offers as (

    select * from {{ ref('stg_smartstack__offers') }}

),

final as (

    select
        offer_id,
        valid_from as event_timestamp,
        headline,
        merchant_category,
        offer_type,
        offer_value,
        min_spend,
        cast(null as {{ type_double() }}) as duration_days,
        valid_from,
        valid_to,
        eligible_card_products

    from offers

)

select * from final
