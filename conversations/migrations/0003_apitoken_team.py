"""API tokens become team-scoped: existing tokens get their user's first team (or are revoked)."""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone


def scope_existing_tokens(apps, schema_editor):
    ApiToken = apps.get_model("conversations", "ApiToken")
    Membership = apps.get_model("conversations", "Membership")
    Team = apps.get_model("conversations", "Team")
    for token in ApiToken.objects.filter(team__isnull=True):
        membership = Membership.objects.filter(user_id=token.user_id).order_by("id").first()
        team_id = membership.team_id if membership else Team.objects.order_by("id").values_list("id", flat=True).first()
        if team_id is None:
            token.delete()  # no team exists: the token could not reach any conversation anyway
            continue
        token.team_id = team_id
        if membership is None and token.revoked_at is None:
            token.revoked_at = timezone.now()  # a member of no team: not silently widened to some team
        token.save(update_fields=["team", "revoked_at"])


class Migration(migrations.Migration):
    dependencies = [("conversations", "0002_team_reps_see_team_views")]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="team",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="api_tokens",
                to="conversations.team",
            ),
        ),
        migrations.RunPython(scope_existing_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="team",
            field=models.ForeignKey(
                help_text="The only team this token may read or record conversations of.",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="api_tokens",
                to="conversations.team",
            ),
        ),
    ]
