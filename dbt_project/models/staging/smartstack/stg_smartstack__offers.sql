with

source as (

    select * from {{ source('smartstack', 'offers') }}

),

renamed as (

    select
        cast(offer_id as {{ dbt.type_string() }}) as offer_id,
        cast(headline as {{ dbt.type_string() }}) as headline,
        cast(merchant_category as {{ dbt.type_string() }}) as merchant_category,
        cast(offer_type as {{ dbt.type_string() }}) as offer_type,
        cast(value as {{ type_double() }}) as offer_value,
        cast(min_spend as {{ type_double() }}) as min_spend,
        cast(valid_from as {{ dbt.type_timestamp() }}) as valid_from,
        cast(valid_to as {{ dbt.type_timestamp() }}) as valid_to,
        cast(eligible_card_products as {{ dbt.type_string() }}) as eligible_card_products

    from source

)

select * from renamed
