"""An HNSW index for "conversations like this one" with the local embedder (384-d, cosine).

The embedding column has no fixed width (OpenAI's embedders are wider), so the index is on an
expression, for the rows of one embedder (pgvector's "indexing vectors of different dimensions"):
coaching.filters._most_similar queries exactly `embedding::halfvec(384) <=> …` with that embedder, which
is what lets PostgreSQL use it. Other embedders are searched exactly (no index), which is fine for the
libraries of a few thousand conversations they are used with so far.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("coaching", "0003_summary_narrow_heap")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX summary_embedding_local_hnsw ON coaching_conversationsummary "
            "USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64) "
            "WHERE embedder = 'all-MiniLM-L6-v2/int8-per-channel'",
            reverse_sql="DROP INDEX summary_embedding_local_hnsw",
        )
    ]
