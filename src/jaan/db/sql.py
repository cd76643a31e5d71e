"""Small pieces of SQL text shared by the shop areas."""


def escape_like(term: str) -> str:
    """A search term taken literally inside LIKE/ILIKE (the default escape character is backslash)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
