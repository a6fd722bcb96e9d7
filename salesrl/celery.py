"""The Celery application: configured from Django settings (CELERY_* names)."""

import os

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesrl.settings")

app = Celery("salesrl")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(task: Task | None = None, **kwargs: object) -> None:
    """What a request does for web processes: drop connections that broke or outlived CONN_MAX_AGE.
    (Celery's own fixup would close every connection around every task; CELERY_DB_REUSE_MAX stops it.)
    Not for a task run inline (eager): its caller's connection, maybe mid-transaction, is not ours."""
    if task is not None and task.request.is_eager:
        return
    from django.db import close_old_connections

    close_old_connections()
