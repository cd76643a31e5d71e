"""Live events: what happens in the shop, pushed to admins and to customers as it happens.

``feed`` reads each committed event once per worker and buffers it for every subscriber;
``streams`` sends a subscriber its events over a WebSocket or Server-Sent Events; ``routes``
declares ``/api/admin/events`` and ``/api/events``.  The events themselves are written by
database triggers (migrations/0015) in the transaction of each change.
"""
