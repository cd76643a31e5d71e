"""The admin's dashboards: headline stats (#29), the dashboard page (#30) and analytics (#31).

:mod:`figures` holds the aggregate queries, each bounded by a date range on the orders' created_at
index and counted in the store's time zone; :mod:`routes` shapes them into the spec's responses.
Revenue and spend never include cancelled orders (D-28); days and months without orders are listed
with zeros rather than left out.
"""
