"""Database failures that are not the client's fault, as the rest of the service names them."""


class DatabaseBusy(Exception):
    """No pooled connection became free within the connect timeout."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached."""


class StatementTimeout(Exception):
    """The server cancelled a statement that ran past ``statement_timeout``."""
