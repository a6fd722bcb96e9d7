"""Keep the summary table's rows narrow: the embedding and the full-text document go to TOAST.

The dashboards aggregate the numeric columns of up to 100k summaries per request; with the 384-d
embedding and the tsvector inline (about 1.5 kB a row) every scan read ~150 MB. With a 128-byte tuple
target PostgreSQL moves both out of line, so the aggregates scan only the numbers; the library's search
and "like this one" read them from TOAST for the rows they touch. Rows written before this migration
move on their next update (or after VACUUM FULL).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("coaching", "0002_summaries_and_bookmarks")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE coaching_conversationsummary SET (toast_tuple_target = 128)",
            reverse_sql="ALTER TABLE coaching_conversationsummary RESET (toast_tuple_target)",
        )
    ]
