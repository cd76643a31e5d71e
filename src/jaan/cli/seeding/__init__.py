"""The demo data ``bin/seed`` writes, one module per kind: :mod:`catalogue` (categories, products
with barcodes, variants, opening stock), :mod:`customers`, :mod:`orders` (with their invoices and
the stock they moved) and :mod:`purchasing` (suppliers, purchase orders and their receipts), from
the word lists of :mod:`words`.  :mod:`rows` holds what they share: bulk COPY, and every stock
change written through the stock ledger (:func:`jaan.shop.inventory.ledger.movements_statement`).

Seed code, not shop code: nothing under ``jaan.shop`` imports it.
"""
