"""Signals other apps listen to, so conversations never imports them.

turns_appended(turns): sent inside the transaction that stored new live turns (one, or a batch from
the batch API, in order). Receivers that start work (scoring) must schedule it with
transaction.on_commit so it never sees an uncommitted row.

conversation_closed(conversation): sent inside the transaction that recorded the outcome.

conversations_imported(conversation_ids): sent inside the transaction that stored an import's
conversations (history: they are neither pushed nor scored live).
"""

from django.dispatch import Signal

turns_appended = Signal()
conversation_closed = Signal()
conversations_imported = Signal()
