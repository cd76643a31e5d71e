"""What the demo generators share: bulk COPY, and stock changes written through the stock ledger."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from jaan.shop.inventory.ledger import Movement, movements_statement

SEED_ACTOR = "bin/seed"  # the ledger's adjusted_by_name for demo stock changes


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(cur: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Bulk-insert `rows` with COPY (a psycopg2 cursor); table and columns are ours, never input."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_text(value) for value in row) + "\n")
    buffer.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


class StockBook:
    """The demo's stock changes, in the order they happened, written through the ledger at the end.

    Every generator records its changes here and reads the stock they leave; ``bin/seed`` then
    writes them all with the ledger's one statement, so each product's row is updated once (a
    product update also rewrites its trigram index entries: once per product, not once per kind).
    """

    def __init__(self) -> None:
        self.movements: list[Movement] = []
        self._levels: dict[int, int] = {}

    def move(self, movement: Movement) -> None:
        self.movements.append(movement)
        self._levels[movement.product_id] = self.level(movement.product_id) + movement.delta

    def level(self, product_id: int) -> int:
        """The product's stock once the changes recorded so far are written."""
        return self._levels.get(product_id, 0)

    def write(self, cur: Any) -> int:
        """Apply every change through the ledger's one statement; the ledger rows it wrote."""
        if not self.movements:
            return 0
        cur.execute(*movements_statement(self.movements, actor_name=SEED_ACTOR))
        if cur.rowcount != len(self.movements):  # a generator's own bookkeeping went wrong: roll back
            raise RuntimeError(f"the ledger took {cur.rowcount} of {len(self.movements)} demo stock changes")
        self.movements.clear()
        return int(cur.rowcount)
