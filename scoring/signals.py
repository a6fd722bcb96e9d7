"""Signals other apps listen to, so scoring never imports them.

score_stored(score, turn): sent after a turn's score is stored and pushed (also when a redelivered task
pushes a stored score again). Receivers that start work must schedule it with transaction.on_commit.

history_scored(conversation_ids): sent after score_history stored scores for closed conversations (no
score_stored per turn: history is not live, nothing is advised or pushed).
"""

from django.dispatch import Signal

score_stored = Signal()
history_scored = Signal()
