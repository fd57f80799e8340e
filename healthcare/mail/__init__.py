"""Email: the outbox rows a transaction writes (`outbox`), the worker that sends them
after commit (`worker`), how they travel (`transport`: SMTP, or files in development) and
calendar invites (`calendar`). Infrastructure: it knows nothing of any domain."""
