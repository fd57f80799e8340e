"""Chat between a patient and a doctor: conversations (who may see one, starting one,
read receipts, typing, the list: `conversations`) and their messages (numbered
idempotent sends, where a conversation's messages are, reads: `messages`)."""

from healthcare.resolvers.chat.conversations import (
    conversations_page,
    find_visible_conversation,
    mark_read,
    participant_column,
    read_seqs,
    set_typing,
    start,
    visible_conversations,
)
from healthcare.resolvers.chat.messages import (
    MAX_MESSAGE_LENGTH,
    NEXT_MESSAGE_SQL,
    Months,
    Sent,
    count_unread,
    history,
    messages_after,
    messages_by_seq,
    recent_messages,
    send,
)

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "NEXT_MESSAGE_SQL",
    "Months",
    "Sent",
    "conversations_page",
    "count_unread",
    "find_visible_conversation",
    "history",
    "mark_read",
    "messages_after",
    "messages_by_seq",
    "participant_column",
    "read_seqs",
    "recent_messages",
    "send",
    "set_typing",
    "start",
    "visible_conversations",
]
