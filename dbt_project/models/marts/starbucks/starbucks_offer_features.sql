{#- Offer features, one row per offer and as-of date: its terms (type, minimum spend, reward,
    window length, channels), a value score on 0..1 (reward over minimum spend; 0 for
    informational offers) and how members responded to it so far (receipts before the as-of
    date; rates smoothed with `rate_prior_strength` pseudo-receipts at the all-offer rate). -#}
{%- set rates = {'view': 'viewed', 'completion': 'completed', 'success': 'succeeded'} -%}

with

offers as (

    select * from {{ ref('stg_starbucks__offers') }}

),

as_of_dates as (

    select * from {{ ref('int_starbucks__as_of_dates') }}

),

history as (

    select
        events.offer_id,
        as_of_dates.as_of,
        {% for rate, step in rates.items() %}
        sum(case when events.event_type = '{{ step }}' then 1 else 0 end) as {{ step }},
        {% endfor %}
        sum(case when events.event_type = 'received' then 1 else 0 end) as received

    from {{ ref('int_starbucks__offer_events') }} as events
    inner join as_of_dates
        on events.event_day < as_of_dates.as_of_day
    group by events.offer_id, as_of_dates.as_of

),

overall as (

    -- All-offer rates as of each date: views per receipt, completions and successes per
    -- receipt of an offer that can be completed.
    select
        history.as_of,
        {{ safe_ratio('sum(history.viewed)', 'sum(history.received)', '0.0') }} as view_rate,
        {{ safe_ratio('sum(history.completed)',
                      'sum(history.received * offers.is_completable)', '0.0') }}
            as completion_rate,
        {{ safe_ratio('sum(history.succeeded)',
                      'sum(history.received * offers.is_completable)', '0.0') }}
            as success_rate

    from history
    inner join offers
        on history.offer_id = offers.offer_id
    group by history.as_of

),

final as (

    select
        offers.offer_id,
        as_of_dates.as_of as event_timestamp,
        offers.offer_type,
        {% for offer_type in var('starbucks_offer_types') %}
        case when offers.offer_type = '{{ offer_type }}' then 1 else 0 end
            as is_{{ offer_type }},
        {% endfor %}
        offers.min_spend,
        offers.reward,
        offers.duration_days,
        {% for channel in var('starbucks_channels') %}
        offers.sent_by_{{ channel }},
        {% endfor %}
        {% for channel in var('starbucks_channels') %}
        offers.sent_by_{{ channel }}{{ ' + ' if not loop.last }}
        {% endfor %} as channel_count,
        case
            when offers.min_spend > 0 then least(offers.reward / offers.min_spend, 1.0)
            else 0.0
        end as value_score,
        {{ as_count('coalesce(history.received, 0)') }} as received_count,
        {% for rate, step in rates.items() %}
        {{ smoothed_rate('history.' ~ step, 'history.received', 'overall.' ~ rate ~ '_rate') }}
            as {{ rate }}_rate_smoothed{{ ',' if not loop.last }}
        {% endfor %}

    from offers
    cross join as_of_dates
    left join history
        on offers.offer_id = history.offer_id
        and as_of_dates.as_of = history.as_of
    left join overall
        on as_of_dates.as_of = overall.as_of

)

select * from final
