"""Signals other apps listen to, so conversations never imports them.

turn_appended(turn): sent inside the transaction that stored a new live turn. Receivers that start
work (scoring) must schedule it with transaction.on_commit so it never sees an uncommitted row.
"""

from django.dispatch import Signal

turn_appended = Signal()
