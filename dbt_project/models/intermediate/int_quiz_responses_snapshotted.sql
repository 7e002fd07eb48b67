{#- Each customer's most recent quiz answer before each as-of date (answers on the as-of day
    itself or later are not yet known). Customers who had not answered have no row. -#}

with

responses as (

    select
        customer_id,
        response_id,
        answered_at,
        favourite_category,
        reward_preference,
        is_planning_travel,
        {{ day_number('answered_at') }} as answered_day

    from {{ ref('int_quiz_responses_unioned') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_generated') }}

),

ranked as (

    select
        responses.customer_id,
        snapshot_dates.as_of,
        snapshot_dates.as_of_day,
        responses.answered_day,
        responses.favourite_category,
        responses.reward_preference,
        responses.is_planning_travel,
        row_number() over (
            partition by responses.customer_id, snapshot_dates.as_of
            order by responses.answered_at desc, responses.response_id desc
        ) as recency_rank

    from responses
    inner join snapshot_dates
        on responses.answered_day < snapshot_dates.as_of_day

),

latest as (

    select
        customer_id,
        as_of,
        as_of_day,
        answered_day,
        favourite_category,
        reward_preference,
        is_planning_travel

    from ranked
    where recency_rank = 1

)

select * from latest
