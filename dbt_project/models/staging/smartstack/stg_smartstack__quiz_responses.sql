with

source as (

    select * from {{ source('smartstack', 'quiz_responses') }}

),

renamed as (

    select
        cast(response_id as {{ dbt.type_bigint() }}) as response_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(answered_at as {{ dbt.type_timestamp() }}) as answered_at,
        cast(favourite_category as {{ dbt.type_string() }}) as favourite_category,
        cast(reward_preference as {{ dbt.type_string() }}) as reward_preference,
        cast(planning_travel as {{ dbt.type_boolean() }}) as is_planning_travel

    from source

)

select * from renamed
