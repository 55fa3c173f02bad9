"""The outbox: queue, render and deliver every message Regulars sends.

- ``services.message_send`` queues one message (other apps call only this);
- ``services.message_deliver`` delivers one through its channel's backend,
  with retries and backoff; ``tasks`` run it in Celery;
- ``backends`` holds the pluggable channel backends (log, email, webhook, in-app);
- ``selectors`` reads (the in-app inbox, due messages).
"""
