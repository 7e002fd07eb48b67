"""Real-time events: contracts, Kafka producers, the stream processor and the landed tables.

Transactions and clickstream come in from source systems (or ``smartstack events replay``),
offer feedback from ``POST /feedback`` and quiz answers from ``POST /quiz``; the processor turns
transactions into the streaming feature ``customer_recent_spend`` in the online store, writes
quiz answers and engagement signals there too, counts engagement, and lands feedback and quiz
answers in the offline tables dbt and training read. See docs/architecture.md, "Events and
streaming" and "Engagement".
"""
