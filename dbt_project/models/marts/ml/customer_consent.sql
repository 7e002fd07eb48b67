{#- Each customer's consent by purpose at every change (feature view `customer_consent`, which
    the stream also writes live changes to): the customers table's record, dated at the data
    set's first as-of date or the customer's signup if later (a record dated years back would
    fall outside the view's TTL), and the consent events landed from the stream, the way
    `customer_quiz_answers` unions generated and live answers. The online store
    keeps each customer's latest; a point-in-time join finds the one in force. Values are 1
    (given), 0 (refused) or null (never recorded: the `privacy.unrecorded_consent` setting
    decides). Changes at or after the snapshot are not known yet, as for quiz answers: the
    stream writes them online and `smartstack feast materialize` writes them again after
    loading. Built for every data set (Starbucks records no consent: nulls from raw). -#}

{%- set customers = 'stg_starbucks__customers' if var('dataset', 'synthetic') == 'starbucks'
    else 'stg_smartstack__customers' %}
{%- set start = var_timestamp('impression_start') %}

with

customers as (

    select * from {{ ref(customers) }}

),

landed as (

    select * from {{ ref('stg_events__consent_events') }}

),

unioned as (

    select
        customer_id,
        {#- BigQuery's greatest() is null when an argument is: coalesce supplies the start #}
        greatest(
            coalesce(cast(signed_up_on as {{ dbt.type_timestamp() }}), {{ start }}), {{ start }}
        ) as changed_at,
        0 as precedence,
        cast(null as {{ dbt.type_timestamp() }}) as landed_at,
        consent_personalization,
        consent_llm_messaging,
        consent_analytics
    from customers

    union all

    select
        customer_id,
        changed_at,
        1 as precedence,
        landed_at,
        consent_personalization,
        consent_llm_messaging,
        consent_analytics
    from landed

),

before_snapshot as (

    select *
    from unioned
    where changed_at < cast('{{ var("snapshot") }}' as {{ dbt.type_timestamp() }})

),

latest_per_instant as (

    {#- One row per customer and instant: a live change beats the record at the same instant,
        and of two changes at one instant the later landed. #}
    {{ first_row_per(
        'before_snapshot', 'customer_id, changed_at', 'precedence desc, landed_at desc nulls last'
    ) }}

),

final as (

    select
        customer_id,
        changed_at as event_timestamp,
        {%- for purpose in ['personalization', 'llm_messaging', 'analytics'] %}
        case
            when consent_{{ purpose }} then 1
            when not consent_{{ purpose }} then 0
        end as consent_{{ purpose }}{{ ',' if not loop.last }}
        {%- endfor %}

    from latest_per_instant

)

select * from final
