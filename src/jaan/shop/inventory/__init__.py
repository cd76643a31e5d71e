"""Inventory: the stock ledger, adjustments and the admin inventory view."""
