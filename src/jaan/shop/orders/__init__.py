"""Orders: checkout, the order lists, and the admin's status changes."""
