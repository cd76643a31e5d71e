"""Accounts: users, roles, sessions, sign-in."""
