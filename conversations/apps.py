from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.models.signals import post_save

        from . import audit

        post_save.connect(audit.mirror_admin_log_entry, sender=LogEntry, dispatch_uid="audit-admin-log")
        user_logged_in.connect(audit.on_login, dispatch_uid="audit-login")
        user_login_failed.connect(audit.on_login_failed, dispatch_uid="audit-login-failed")
