{#- Who the member is, one row per customer and as-of date: stated age, income and gender (null
    when not given; about 13% of profiles give none of the three) and membership length at the
    as-of date. The demographic-only baseline reads exactly this view's features. -#}
with

customers as (

    select
        customer_id,
        gender,
        age,
        income,
        {{ day_number('signed_up_on') }} as signed_up_day,
        extract(year from signed_up_on) as member_since_year

    from {{ ref('stg_starbucks__customers') }}

),

as_of_dates as (

    select * from {{ ref('int_starbucks__as_of_dates') }}

),

final as (

    select
        customers.customer_id,
        as_of_dates.as_of as event_timestamp,
        customers.age,
        customers.income,
        case when customers.gender = 'F' then 1 when customers.gender is not null then 0 end
            as gender_female,
        case when customers.gender = 'M' then 1 when customers.gender is not null then 0 end
            as gender_male,
        case when customers.gender = 'O' then 1 when customers.gender is not null then 0 end
            as gender_other,
        case
            when customers.gender is null and customers.age is null and customers.income is null
                then 1
            else 0
        end as profile_incomplete,
        as_of_dates.as_of_day - customers.signed_up_day as membership_days,
        cast(customers.member_since_year as {{ dbt.type_int() }}) as member_since_year

    from customers
    cross join as_of_dates

)

select * from final
