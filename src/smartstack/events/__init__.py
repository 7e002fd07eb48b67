"""Real-time events: contracts, Kafka producers, the stream processor and the feedback table.

Transactions and clickstream come in from source systems (or ``smartstack events replay``),
offer feedback from ``POST /feedback``; the processor turns transactions into the streaming
feature ``customer_recent_spend`` in the online store and lands feedback in the offline
feedback table that training reads. See docs/architecture.md, "Events and streaming".
"""
