"""`manage.py import_prices FILE.csv`: add price book versions from a CSV file, every row or none."""

import csv
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from config.commands import plural
from config.errors import DomainError
from credits.management.options import outlet_from_option
from credits.prices import services
from credits.prices.models import Price
from credits.services import Actor

COLUMNS = (
    "outlet", "type", "model", "unit", "credits_per_unit", "cost_usd_per_unit", "increment", "minimum",
    "effective_from",
)
OPTIONAL = {"increment", "minimum"}  # empty: the default (1 and 0)


def read_row(cells: dict[str, str]) -> tuple[dict, list[str]]:
    """A row's fields for `price_create`, and what could not be read before the price's own checks."""
    problems = []
    fields = {name: value.strip() for name, value in cells.items() if name != "outlet"}
    for name in OPTIONAL:
        if not fields[name]:
            del fields[name]
    outlet = cells["outlet"].strip()
    try:
        fields["outlet"] = outlet_from_option(outlet) if outlet else None
    except CommandError as exc:
        problems.append(f"outlet: {exc}")
    try:
        moment = datetime.fromisoformat(fields["effective_from"])
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        problems.append(f"effective_from: '{fields['effective_from'][:40]}' is not an ISO 8601 time with its offset.")
    fields["effective_from"] = moment
    return fields, problems


class Command(BaseCommand):
    help = (
        "Add price book versions from a CSV file with the header " + ",".join(COLUMNS) + " (outlet: id or name, "
        "empty for the platform default). Every row is stored or none; bad rows are named by line."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="A CSV file.")

    def handle(self, *args, file, **options):
        try:
            with open(file, newline="", encoding="utf-8") as stream:
                rows, problems = self._read(stream, file)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}.") from None
        try:
            if problems:  # the other rows' own problems are named too, then nothing is stored
                raise DomainError("", errors=services.price_rows_errors([(line, Price(**fields)) for line, fields in rows]))
            prices = services.prices_import(rows=rows, actor=Actor.for_operator("import_prices"))
        except DomainError as exc:
            problems = dict(sorted({**problems, **exc.errors}.items(), key=lambda item: int(item[0].split()[1])))
            for where, messages in problems.items():
                self.stderr.write(f"{where}: {'; '.join(messages)}")
            raise CommandError(f"{plural(len(problems), 'bad row')} in {file}: no price was stored.") from None
        self.stdout.write(f"Stored {plural(len(prices), 'price version')} from {file}.")

    def _read(self, stream, name: str) -> tuple[list[tuple[int, dict]], dict[str, list[str]]]:
        reader = csv.reader(stream)
        header = [cell.strip() for cell in next(reader, [])]
        if sorted(header) != sorted(COLUMNS):
            raise CommandError(f"The header of {name} (line 1) must name the columns {','.join(COLUMNS)}.")
        rows, problems, line = [], {}, reader.line_num
        for cells in reader:
            number, line = line + 1, reader.line_num
            if not cells:
                continue
            if len(cells) != len(header):
                problems[f"line {number}"] = [f"has {len(cells)} cells, the header {len(header)}."]
                continue
            fields, found = read_row(dict(zip(header, cells)))
            if found:
                problems[f"line {number}"] = found
            else:
                rows.append((number, fields))
        return rows, problems
