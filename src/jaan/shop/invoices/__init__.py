"""Invoices: numbering, invoices for orders, payments, the admin's and the customer's lists."""
