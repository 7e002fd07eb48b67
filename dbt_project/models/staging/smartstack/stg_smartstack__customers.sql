with

source as (

    select * from {{ source('smartstack', 'customers') }}

),

renamed as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(card_product as {{ dbt.type_string() }}) as card_product,
        cast(age_band as {{ dbt.type_string() }}) as age_band,
        cast(region as {{ dbt.type_string() }}) as region,
        cast(signup_date as date) as signed_up_on,
        cast(marketing_consent as {{ dbt.type_boolean() }}) as has_marketing_consent,
        cast(consent_personalization as {{ dbt.type_boolean() }}) as consent_personalization,
        cast(consent_llm_messaging as {{ dbt.type_boolean() }}) as consent_llm_messaging,
        cast(consent_analytics as {{ dbt.type_boolean() }}) as consent_analytics

    from source

)

select * from renamed
