"""Purchasing: purchase orders to suppliers and receiving them into stock (spec §4.17, §5.4).

:mod:`orders` creates and reads purchase orders, :mod:`lifecycle` moves them through their
states and receives their lines into stock through the ledger, :mod:`low_stock` lists what each
supplier should be asked for, :mod:`routes` is the HTTP face.
"""
