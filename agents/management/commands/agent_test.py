"""Run an agent's test suite from the command line (CI): per-case results, and a non-zero exit
when any case fails."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.definitions.models import Brain
from agents.testing.models import RunStatus, RunTrigger
from agents.testing.outcomes import EXPECTABLE
from agents.testing.runner import run_start, run_summary
from agents.testing.selectors import agent_by_reference
from agents.testing.services import cases_seed_once


class Command(BaseCommand):
    help = (
        "Run an agent's tests on its draft (or --version N), with actions in dry run. "
        "Exits with status 1 when a test fails."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # --version N names the agent version to test, in place of Django's own --version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workspace", help="The workspace's slug, name or id.")
        parser.add_argument("agent", help="The agent's name or id.")
        parser.add_argument("--version", type=int, help="Test this version (default: draft).")
        parser.add_argument(
            "--brain", choices=Brain.values, help="Run with this brain instead of the agent's."
        )
        parser.add_argument(
            "--generate",
            action="store_true",
            help="Generate the starting suite first when the agent has never had tests.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agent = agent_by_reference(workspace=options["workspace"], agent=options["agent"])
        if agent is None:
            raise CommandError(
                f"No single agent {options['agent']!r} in workspace {options['workspace']!r}."
            )
        if options["generate"]:
            added = cases_seed_once(agent=agent)
            if added:
                self.stdout.write(f"Generated {len(added)} tests.")
        try:
            run = run_start(
                agent=agent,
                version_number=options["version"],
                brain=options["brain"] or "",
                trigger=RunTrigger.COMMAND,
                inline=True,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        for result in run.results:
            mark = self.style.SUCCESS("PASS") if result["passed"] else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark} {result['name']}")
            for turn in result["turns"]:
                if not turn["passed"]:
                    expected = EXPECTABLE.get(turn["expected"], turn["expected"])
                    self.stdout.write(
                        f"     heard “{turn['heard']}”: expected {expected.lower()}"
                        f"{' ' + turn['expected_target'] if turn['expected_target'] else ''}, "
                        f"chose {turn['summary'] or turn['chosen']} ({turn['why']})"
                    )
        summary = f"{run_summary(run)} Brain: {run.brain}. Run {run.pk}."
        if run.status != RunStatus.DONE or run.passed < run.total:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
