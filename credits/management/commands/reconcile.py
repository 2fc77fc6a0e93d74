"""`manage.py reconcile`: prove the stored numbers agree with the records they cache; exit 1 on any mismatch.

It runs every check the apps registered in `config.checks`: the ledger (credits), the rollups (analytics).
"""

from django.core.management.base import BaseCommand, CommandError

from config import checks
from config.commands import plural


class Command(BaseCommand):
    help = "Check that balances equal their ledgers and rollups their raw records; print each mismatch and exit 1 if any."

    def handle(self, *args, **options):
        checked, problems = [], []
        for name, check in checks.registered():
            result = check()
            checked.append(result.checked)
            problems.extend(f"{name}: {problem}" for problem in result.problems)

        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"{plural(len(problems), 'mismatch', 'mismatches')} found.", returncode=1)
        self.stdout.write(f"OK: {', '.join(checked)} consistent.")
