{#- Starbucks rewards members: the stated demographics the adapter keeps (age 118 already null),
    and consent by purpose (null: the public data records none). -#}
with

source as (

    select * from {{ source('smartstack', 'customers') }}

),

renamed as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(gender as {{ dbt.type_string() }}) as gender,
        cast(age as {{ dbt.type_int() }}) as age,
        cast(income as {{ type_double() }}) as income,
        cast(signup_date as date) as signed_up_on,
        cast(consent_personalization as {{ dbt.type_boolean() }}) as consent_personalization,
        cast(consent_llm_messaging as {{ dbt.type_boolean() }}) as consent_llm_messaging,
        cast(consent_analytics as {{ dbt.type_boolean() }}) as consent_analytics

    from source

)

select * from renamed
