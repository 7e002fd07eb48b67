{#- Starbucks rewards members: the stated demographics the adapter keeps (age 118 already null). -#}
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
        cast(signup_date as date) as signed_up_on

    from source

)

select * from renamed
