-- Batch side of the streaming feature `customer_recent_spend`: spend per category over the
-- last 7 days as of each snapshot. The stream processor pushes fresher values of the same
-- columns into the online store between batch runs.
select
    customer_id,
    event_timestamp,
    {% for category in var('merchant_categories') %}
    spend_{{ category }}_7d as recent_spend_{{ category }}{{ "," if not loop.last }}
    {% endfor %}
from {{ ref('customer_spend_features') }}
