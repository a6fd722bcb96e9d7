"""Make a registered model version the one that scores live turns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from conversations import audit
from scoring import services
from scoring.ml.inference import ArtifactError
from scoring.models import ScoringModel


class Command(BaseCommand):
    help = "Activate a model version (by version name), registering it first when given a model folder."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("version_or_folder", help="a registered version, or a model folder to register")

    def handle(self, *args: Any, version_or_folder: str, **options: Any) -> None:
        model = ScoringModel.objects.filter(version=version_or_folder).first()
        if model is None:
            folder = Path(version_or_folder)
            if not folder.is_dir():
                raise CommandError(f"no registered version or model folder {version_or_folder!r}")
            try:
                model = services.register_model(folder=folder, source=str(folder))
            except ArtifactError as exc:
                raise CommandError(str(exc)) from None
        try:
            services.load_policy(model, services.current_embedder())
        except (ArtifactError, OSError) as exc:
            raise CommandError(f"{model.version} cannot serve with this runtime: {exc}") from None
        model.activate()
        audit.record("model.activated", target=model, actor_name="manage.py")
        self.stdout.write(f"{model.version} is now active")
