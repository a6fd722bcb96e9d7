"""Signals other apps listen to, so scoring never imports them.

scores_stored(scores): sent after scores are stored and pushed (also when a redelivered task pushes
stored scores again), with the newest score of each conversation among them, each loaded with its
turn and conversation. Receivers that start work must schedule it with transaction.on_commit.

history_scored(conversation_ids): sent after score_history stored scores for closed conversations (no
scores_stored: history is not live, nothing is advised or pushed).
"""

from django.dispatch import Signal

scores_stored = Signal()
history_scored = Signal()
